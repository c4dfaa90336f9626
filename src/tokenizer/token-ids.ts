/**
 * Which numbers are token ids of a model: integers in 0..vocabSize-1, where vocabSize is the model's
 * vocab_size (its embedding rows, which may exceed the tokenizer's vocabulary by unused padding
 * rows). Shared by the server's /detokenize and `fugaku detokenize`, so both accept the same ids.
 */

/** The first element of `ids` that is not a token id of a model with `vocabSize` embedding rows; undefined when all are. */
export function findInvalidTokenId(ids: readonly number[], vocabSize: number): number | undefined {
  return ids.find((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
}
