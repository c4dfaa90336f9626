/**
 * HF post-processors: what `add_special_tokens` adds around the encoded sequence(s).
 *
 * Only TemplateProcessing is supported (the llm-jp tokenizer: single `$A <EOD|LLM-jp>`, pair
 * `$A <EOD|LLM-jp> $B <EOD|LLM-jp>`). The pieces of the template are concatenated in order; a special
 * token piece contributes the ids/tokens listed for it under `special_tokens`, with offsets (0, 0), and
 * only when special tokens are requested. With no post-processor the sequences are just concatenated.
 */
import { getArray, getObject, getString, getType, invalid, isObject, unsupported, type JsonObject } from './json.js';

/** An encoding under construction; `tokens` / `offsets` (flat pairs) are null when not requested. */
export interface Encoding {
  ids: number[];
  tokens: string[] | null;
  offsets: number[] | null;
}

export interface PostProcessor {
  process(a: Encoding, b: Encoding | null, addSpecialTokens: boolean): Encoding;
}

type Piece = { kind: 'A' | 'B' } | { kind: 'special'; ids: number[]; tokens: string[] };

function concat(parts: Encoding[], withTokens: boolean, withOffsets: boolean): Encoding {
  const pick = <T>(get: (p: Encoding) => T[] | null): T[] => ([] as T[]).concat(...parts.map((p) => get(p) ?? []));
  return {
    ids: pick((p) => p.ids),
    tokens: withTokens ? pick((p) => p.tokens) : null,
    offsets: withOffsets ? pick((p) => p.offsets) : null,
  };
}

class TemplateProcessing implements PostProcessor {
  constructor(
    private readonly single: Piece[],
    private readonly pair: Piece[],
  ) {}

  process(a: Encoding, b: Encoding | null, addSpecialTokens: boolean): Encoding {
    const template = b === null ? this.single : this.pair;
    const parts: Encoding[] = [];
    for (const piece of template) {
      if (piece.kind !== 'special') {
        const seq = piece.kind === 'A' ? a : b;
        if (seq !== null) parts.push(seq);
      } else if (addSpecialTokens) {
        parts.push({
          ids: piece.ids,
          tokens: piece.tokens,
          offsets: piece.ids.flatMap(() => [0, 0]),
        });
      }
    }
    return concat(parts, a.tokens !== null, a.offsets !== null);
  }
}

/** No post-processor: the sequences, one after the other. */
export const concatenate: PostProcessor = {
  process(a: Encoding, b: Encoding | null): Encoding {
    return b === null ? a : concat([a, b], a.tokens !== null, a.offsets !== null);
  },
};

function parseTemplate(list: unknown[], specials: JsonObject, where: string): Piece[] {
  return list.map((p, k): Piece => {
    const w = `${where}[${k}]`;
    if (!isObject(p)) throw invalid(w, 'must be an object');
    if (isObject(p['Sequence'])) {
      const id = p['Sequence']['id'];
      if (id !== 'A' && id !== 'B') throw invalid(w, 'Sequence id must be "A" or "B"');
      return { kind: id };
    }
    if (isObject(p['SpecialToken'])) {
      const name = getString(p['SpecialToken'], 'id', w);
      const spec = specials[name];
      if (!isObject(spec)) throw invalid(w, `special token ${JSON.stringify(name)} is missing from special_tokens`);
      const ids = getArray(spec, 'ids', w);
      const tokens = getArray(spec, 'tokens', w);
      if (!ids.every((x) => Number.isInteger(x) && (x as number) >= 0) || !tokens.every((x) => typeof x === 'string')) {
        throw invalid(w, `special token ${JSON.stringify(name)} has malformed ids/tokens`);
      }
      if (ids.length !== tokens.length) throw invalid(w, `special token ${JSON.stringify(name)}: ids and tokens differ in length`);
      return { kind: 'special', ids: ids as number[], tokens: tokens as string[] };
    }
    throw invalid(w, 'must be {"Sequence": ...} or {"SpecialToken": ...}');
  });
}

export function postProcessorFromJson(j: unknown): PostProcessor {
  if (j === null || j === undefined) return concatenate;
  const where = 'post_processor';
  const type = getType(j, where);
  if (type !== 'TemplateProcessing') throw unsupported(where, `post-processor type ${JSON.stringify(type)} is not supported`);
  const o = j as JsonObject;
  const specials = o['special_tokens'] === undefined ? {} : getObject(o, 'special_tokens', where);
  return new TemplateProcessing(
    parseTemplate(getArray(o, 'single', where), specials, `${where}.single`),
    parseTemplate(getArray(o, 'pair', where), specials, `${where}.pair`),
  );
}
