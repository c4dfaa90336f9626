/**
 * GPT-2 (pre-LayerNorm, learned absolute positions, Conv1D weights [in, out]) as in
 * transformers' GPT2LMHeadModel, computed through a Backend. The data path of one forward:
 *
 *   ids ─► wte[ids] + wpe[positions] ─► for each block:
 *            h += c_proj(attention(c_attn(ln_1(h))))         (KV cache appended)
 *            h += mlp.c_proj(act(mlp.c_fc(ln_2(h))))
 *        ─► ln_f ─► lm_head (tied wte, or lm_head.weight) ─► logits [t, vocab]
 */
import { FugakuError } from '../errors.js';
import type { Backend, Matrix } from '../backend/backend.js';
import type { GPT2Config } from './config.js';
import { KVCache } from './kv-cache.js';

export interface GPT2Block {
  ln1Weight: Float32Array;
  ln1Bias: Float32Array;
  attnQKV: Matrix;
  attnQKVBias: Float32Array;
  attnProj: Matrix;
  attnProjBias: Float32Array;
  ln2Weight: Float32Array;
  ln2Bias: Float32Array;
  mlpFc: Matrix;
  mlpFcBias: Float32Array;
  mlpProj: Matrix;
  mlpProjBias: Float32Array;
}

export interface GPT2Weights {
  wte: Matrix;
  wpe: Matrix;
  blocks: GPT2Block[];
  lnFWeight: Float32Array;
  lnFBias: Float32Array;
  /** The output head: wte itself when tied, else lm_head.weight; both [vocab, nEmbd]. */
  lmHead: Matrix;
}

export interface ForwardOptions {
  /** Absolute position ids of the new tokens (default: cache.length + i). */
  positions?: ArrayLike<number>;
  /** HF attention_mask entries for the new tokens (1 = real, 0 = padding). Default all 1. */
  attentionMask?: ArrayLike<number>;
  /** Which logits to return: every new position, the last one only, or none (prefill of a prefix). */
  logits?: 'all' | 'last' | 'none';
}

export class GPT2Model {
  constructor(
    readonly config: GPT2Config,
    readonly weights: GPT2Weights,
    readonly backend: Backend,
  ) {}

  newCache(capacity = this.config.nPositions): KVCache {
    return new KVCache(this.config.nLayer, this.config.nEmbd, Math.min(capacity, this.config.nPositions));
  }

  /**
   * Runs `ids` (new tokens of one sequence) through the model, appending to `cache`.
   * Returns logits [n, vocabSize] for the requested positions (n = t, 1 or 0).
   */
  forward(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Float32Array {
    const cfg = this.config;
    const be = this.backend;
    const t = ids.length;
    const E = cfg.nEmbd;
    const past = cache.length;
    if (t === 0) throw new FugakuError('INVALID_ARGUMENT', 'forward needs at least one token');
    if (past + t > cache.capacity) {
      throw new FugakuError(
        'CONTEXT_OVERFLOW',
        `sequence of ${past + t} tokens does not fit the context (${cache.capacity} positions; model n_positions = ${cfg.nPositions})`,
        'shorten the prompt or lower max new tokens',
      );
    }
    const positions = opts.positions ?? Array.from({ length: t }, (_, i) => past + i);
    for (let i = 0; i < t; i++) {
      const p = positions[i];
      if (!Number.isInteger(p) || p < 0 || p >= cfg.nPositions) {
        throw new FugakuError('CONTEXT_OVERFLOW', `position ${p} is outside 0..${cfg.nPositions - 1}`, 'the model has learned positions only up to n_positions');
      }
    }
    if (opts.attentionMask) {
      for (let i = 0; i < t; i++) {
        const m = opts.attentionMask[i] ? 1 : 0;
        cache.keyMask[past + i] = m;
        if (m === 0) cache.hasPadding = true;
      }
    }

    // Embeddings: h = wte[ids] + wpe[positions]
    const h = new Float32Array(t * E);
    const pos = new Float32Array(t * E);
    be.embedding(this.weights.wte, ids, h);
    be.embedding(this.weights.wpe, positions, pos);
    be.addInPlace(h, pos, t * E);

    const x = new Float32Array(t * E);
    const qkv = new Float32Array(t * 3 * E);
    const q = new Float32Array(t * E);
    const att = new Float32Array(t * E);
    const proj = new Float32Array(t * E);
    const ff = new Float32Array(t * cfg.nInner);
    for (let l = 0; l < cfg.nLayer; l++) {
      const b = this.weights.blocks[l];
      // Attention sub-block.
      be.layerNorm(h, t, E, b.ln1Weight, b.ln1Bias, cfg.layerNormEpsilon, x);
      be.matmul(x, t, b.attnQKV, b.attnQKVBias, qkv);
      const kc = cache.keys[l];
      const vc = cache.values[l];
      for (let i = 0; i < t; i++) {
        const src = i * 3 * E;
        q.set(qkv.subarray(src, src + E), i * E);
        kc.set(qkv.subarray(src + E, src + 2 * E), (past + i) * E);
        vc.set(qkv.subarray(src + 2 * E, src + 3 * E), (past + i) * E);
      }
      let scale = 1;
      if (cfg.scaleAttnWeights) scale /= Math.sqrt(cfg.headDim);
      if (cfg.scaleAttnByInverseLayerIdx) scale /= l + 1;
      be.attention({
        q, t, kCache: kc, vCache: vc, past,
        nHead: cfg.nHead, headDim: cfg.headDim, scale,
        keyMask: cache.hasPadding ? cache.keyMask : null,
        out: att,
      });
      be.matmul(att, t, b.attnProj, b.attnProjBias, proj);
      be.addInPlace(h, proj, t * E);
      // MLP sub-block.
      be.layerNorm(h, t, E, b.ln2Weight, b.ln2Bias, cfg.layerNormEpsilon, x);
      be.matmul(x, t, b.mlpFc, b.mlpFcBias, ff);
      be.activation(cfg.activation, ff, t * cfg.nInner);
      be.matmul(ff, t, b.mlpProj, b.mlpProjBias, proj);
      be.addInPlace(h, proj, t * E);
    }
    cache.length = past + t;

    const mode = opts.logits ?? 'last';
    if (mode === 'none') return new Float32Array(0);
    const first = mode === 'all' ? 0 : t - 1;
    const rows = t - first;
    const lnIn = h.subarray(first * E);
    const hf = new Float32Array(rows * E);
    be.layerNorm(lnIn, rows, E, this.weights.lnFWeight, this.weights.lnFBias, cfg.layerNormEpsilon, hf);
    const logits = new Float32Array(rows * this.weights.lmHead.outDim);
    be.matmul(hf, rows, this.weights.lmHead, null, logits);
    return logits;
  }
}
