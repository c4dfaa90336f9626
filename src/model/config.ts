/**
 * GPT-2 configuration: parses a Hugging Face `config.json` into the fields the forward pass
 * needs, applying transformers' GPT2Config defaults, and rejects what we cannot run.
 */
import { FugakuError } from '../errors.js';
import { parseActivation, type ActivationName } from '../tensor/activations.js';

export interface GPT2Config {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  headDim: number;
  nInner: number;
  activation: ActivationName;
  layerNormEpsilon: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  reorderAndUpcastAttn: boolean;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
}

// transformers GPT2Config defaults.
const DEFAULTS = {
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  scale_attn_weights: true,
  scale_attn_by_inverse_layer_idx: false,
  reorder_and_upcast_attn: false,
  tie_word_embeddings: true,
  bos_token_id: 50256,
  eos_token_id: 50256,
} as const;

const SUPPORTED_ARCHITECTURES = ['GPT2LMHeadModel', 'GPT2Model'];

function bad(field: string, value: unknown, what: string): FugakuError {
  return new FugakuError(
    'CONFIG_INVALID',
    `config.json: ${field} = ${JSON.stringify(value)} ${what}`,
    'fix config.json or use the config.json that came with the checkpoint',
  );
}

function posInt(raw: Record<string, unknown>, field: keyof typeof DEFAULTS | 'n_inner'): number {
  const v = raw[field] ?? (DEFAULTS as Record<string, unknown>)[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw bad(field, v, 'must be a positive integer');
  return v;
}

function bool(raw: Record<string, unknown>, field: keyof typeof DEFAULTS): boolean {
  const v = raw[field] ?? DEFAULTS[field];
  if (typeof v !== 'boolean') throw bad(field, v, 'must be true or false');
  return v;
}

function tokenId(raw: Record<string, unknown>, field: string, dflt: number | null): number | null {
  const v = field in raw ? raw[field] : dflt;
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(field, v, 'must be a token id (integer >= 0) or null');
  return v;
}

export function parseGPT2Config(raw: Record<string, unknown>, source = 'config.json'): GPT2Config {
  const modelType = raw.model_type;
  const archs = raw.architectures;
  if (modelType !== undefined && modelType !== 'gpt2') {
    throw new FugakuError(
      'ARCH_UNSUPPORTED',
      `${source}: model_type ${JSON.stringify(modelType)} is not supported (only GPT-2 architecture models such as Fugaku-LLM)`,
      'point --model at a Fugaku-LLM (GPT2LMHeadModel) checkpoint folder',
    );
  }
  if (archs !== undefined) {
    if (!Array.isArray(archs) || !archs.some((a) => SUPPORTED_ARCHITECTURES.includes(a as string))) {
      throw new FugakuError(
        'ARCH_UNSUPPORTED',
        `${source}: architectures ${JSON.stringify(archs)} is not supported`,
        `supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
      );
    }
  }
  if (modelType === undefined && archs === undefined) {
    throw new FugakuError('CONFIG_INVALID', `${source}: neither model_type nor architectures is set`, 'is this a Hugging Face config.json?');
  }
  const nEmbd = posInt(raw, 'n_embd');
  const nHead = posInt(raw, 'n_head');
  if (nEmbd % nHead !== 0) throw bad('n_embd', nEmbd, `is not divisible by n_head = ${nHead}`);
  const nInner = raw.n_inner === null || raw.n_inner === undefined ? 4 * nEmbd : posInt(raw, 'n_inner');
  const eps = raw.layer_norm_epsilon ?? DEFAULTS.layer_norm_epsilon;
  if (typeof eps !== 'number' || !(eps > 0)) throw bad('layer_norm_epsilon', eps, 'must be a positive number');
  let eos: number | number[] | null;
  const eosRaw = 'eos_token_id' in raw ? raw.eos_token_id : DEFAULTS.eos_token_id;
  if (Array.isArray(eosRaw)) {
    eos = eosRaw.map((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`eos_token_id[${i}]`, v, 'must be a token id');
      return v;
    });
  } else {
    eos = tokenId(raw, 'eos_token_id', DEFAULTS.eos_token_id);
  }
  return {
    vocabSize: posInt(raw, 'vocab_size'),
    nPositions: posInt(raw, 'n_positions'),
    nEmbd,
    nLayer: posInt(raw, 'n_layer'),
    nHead,
    headDim: nEmbd / nHead,
    nInner,
    activation: parseActivation(raw.activation_function ?? DEFAULTS.activation_function),
    layerNormEpsilon: eps,
    scaleAttnWeights: bool(raw, 'scale_attn_weights'),
    scaleAttnByInverseLayerIdx: bool(raw, 'scale_attn_by_inverse_layer_idx'),
    reorderAndUpcastAttn: bool(raw, 'reorder_and_upcast_attn'),
    tieWordEmbeddings: bool(raw, 'tie_word_embeddings'),
    bosTokenId: tokenId(raw, 'bos_token_id', DEFAULTS.bos_token_id),
    eosTokenId: eos,
    padTokenId: tokenId(raw, 'pad_token_id', null),
  };
}
