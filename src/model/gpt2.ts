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
import type { Backend, Matrix, Tensor } from '../backend/backend.js';
import type { GPT2Config } from './config.js';
import { KVCache, type KVCacheDType } from './kv-cache.js';

export interface GPT2Block {
  ln1Weight: Tensor;
  ln1Bias: Tensor;
  attnQKV: Matrix;
  attnQKVBias: Tensor;
  attnProj: Matrix;
  attnProjBias: Tensor;
  ln2Weight: Tensor;
  ln2Bias: Tensor;
  mlpFc: Matrix;
  mlpFcBias: Tensor;
  mlpProj: Matrix;
  mlpProjBias: Tensor;
}

export interface GPT2Weights {
  wte: Matrix;
  wpe: Matrix;
  blocks: GPT2Block[];
  lnFWeight: Tensor;
  lnFBias: Tensor;
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

/** Activation buffers of one forward, kept between calls and grown when a step has more rows. */
interface Workspace {
  rows: number;
  h: Tensor;
  pos: Tensor;
  x: Tensor;
  qkv: Tensor;
  q: Tensor;
  att: Tensor;
  proj: Tensor;
  ff: Tensor;
}

export class GPT2Model {
  private workspace: Workspace | null = null;

  constructor(
    readonly config: GPT2Config,
    readonly weights: GPT2Weights,
    readonly backend: Backend,
    /** Element type of the KV caches this model makes (f16 halves their memory). */
    readonly kvCacheDtype: KVCacheDType = 'f32',
  ) {}

  newCache(capacity = this.config.nPositions): KVCache {
    return new KVCache(this.backend, this.config.nLayer, this.config.nEmbd, Math.min(capacity, this.config.nPositions), this.kvCacheDtype);
  }

  /**
   * Runs `ids` (new tokens of one sequence) through the model, appending to `cache`.
   * Returns logits [n, vocabSize] for the requested positions (n = t, 1 or 0).
   */
  async forward(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Promise<Float32Array> {
    return (await this.forwardBatch([{ ids, cache, ...opts }]))[0];
  }

  /**
   * Runs several sequences at once, each with its own cache (continuous batching): the new tokens
   * of every sequence are stacked into one [Σt, nEmbd] activation so each weight matrix is read once
   * per step for the whole batch; attention is computed per sequence over its own cache.
   * Returns one logits array per sequence (as `forward` would). Every op is queued on the backend at
   * once; the only data brought back to the host are the logits asked for.
   */
  async forwardBatch(steps: readonly BatchStep[]): Promise<Float32Array[]> {
    const cfg = this.config;
    const be = this.backend;
    const E = cfg.nEmbd;
    if (steps.length === 0) return [];
    const offsets: number[] = [];
    const pasts: number[] = [];
    let total = 0;
    const allIds: number[] = [];
    const allPos: number[] = [];
    for (const s of steps) {
      const t = s.ids.length;
      const cache = s.cache;
      cache.checkLive();
      if (cache.backend !== be) throw new FugakuError('INVALID_ARGUMENT', `the KV cache was made by backend ${cache.backend.name}, not this model's ${be.name}`, 'make caches with model.newCache()');
      const past = cache.length;
      if (t === 0) throw new FugakuError('INVALID_ARGUMENT', 'forward needs at least one token');
      if (past + t > cache.capacity) {
        throw new FugakuError(
          'CONTEXT_OVERFLOW',
          `sequence of ${past + t} tokens does not fit the context (${cache.capacity} positions; model n_positions = ${cfg.nPositions})`,
          'shorten the prompt or lower max new tokens',
        );
      }
      if (steps.some((o) => o !== s && o.cache === cache)) {
        throw new FugakuError('INVALID_ARGUMENT', 'two sequences of one batch share a KV cache', 'give each sequence its own cache (cache.clone())');
      }
      for (let i = 0; i < t; i++) {
        const p = s.positions ? s.positions[i] : past + i;
        if (!Number.isInteger(p) || p < 0 || p >= cfg.nPositions) {
          throw new FugakuError('CONTEXT_OVERFLOW', `position ${p} is outside 0..${cfg.nPositions - 1}`, 'the model has learned positions only up to n_positions');
        }
        allPos.push(p);
        allIds.push(s.ids[i]);
      }
      offsets.push(total);
      pasts.push(past);
      total += t;
    }
    for (const s of steps) {
      if (!s.attentionMask) continue;
      const past = s.cache.length;
      for (let i = 0; i < s.ids.length; i++) {
        const m = s.attentionMask[i] ? 1 : 0;
        s.cache.keyMask[past + i] = m;
        if (m === 0) s.cache.hasPadding = true;
      }
    }

    // Embeddings: h = wte[ids] + wpe[positions]
    const T = total;
    const { h, pos, x, qkv, q, att, proj, ff } = this.workspaceFor(T);
    be.embedding(this.weights.wte, Int32Array.from(allIds), h);
    be.embedding(this.weights.wpe, Int32Array.from(allPos), pos);
    be.addInPlace(h, pos, T * E);

    for (let l = 0; l < cfg.nLayer; l++) {
      const b = this.weights.blocks[l];
      // Attention sub-block.
      be.layerNorm(h, T, E, b.ln1Weight, b.ln1Bias, cfg.layerNormEpsilon, x);
      be.matmul(x, T, b.attnQKV, b.attnQKVBias, qkv);
      let scale = 1;
      if (cfg.scaleAttnWeights) scale /= Math.sqrt(cfg.headDim);
      if (cfg.scaleAttnByInverseLayerIdx) scale /= l + 1;
      for (let s = 0; s < steps.length; s++) {
        const { cache } = steps[s];
        const t = steps[s].ids.length;
        const past = pasts[s];
        const kc = cache.keys[l];
        const vc = cache.values[l];
        // Split the fused rows [q k v] of this step's t tokens: queries to q, keys and values to the cache.
        const src = offsets[s] * 3 * E;
        be.copyRows(qkv, src, q, offsets[s] * E, E, t, 3 * E);
        be.copyRows(qkv, src + E, kc, past * E, E, t, 3 * E);
        be.copyRows(qkv, src + 2 * E, vc, past * E, E, t, 3 * E);
        be.attention({
          q, qOffset: offsets[s] * E, t, kCache: kc, vCache: vc, past,
          nHead: cfg.nHead, headDim: cfg.headDim, scale,
          keyMask: cache.hasPadding ? cache.keyMask : null,
          out: att, outOffset: offsets[s] * E,
        });
      }
      be.matmul(att, T, b.attnProj, b.attnProjBias, proj);
      be.addInPlace(h, proj, T * E);
      // MLP sub-block.
      be.layerNorm(h, T, E, b.ln2Weight, b.ln2Bias, cfg.layerNormEpsilon, x);
      be.matmul(x, T, b.mlpFc, b.mlpFcBias, ff);
      be.activation(cfg.activation, ff, T * cfg.nInner);
      be.matmul(ff, T, b.mlpProj, b.mlpProjBias, proj);
      be.addInPlace(h, proj, T * E);
    }
    for (let s = 0; s < steps.length; s++) steps[s].cache.length = pasts[s] + steps[s].ids.length;

    // Final LayerNorm and LM head, only for the rows whose logits were asked for.
    const rowsOf = steps.map((s) => {
      const mode = s.logits ?? 'last';
      const t = s.ids.length;
      return mode === 'none' ? [] : mode === 'all' ? Array.from({ length: t }, (_, i) => i) : [t - 1];
    });
    const nRows = rowsOf.reduce((a, r) => a + r.length, 0);
    const V = this.weights.lmHead.outDim;
    if (nRows === 0) return steps.map(() => new Float32Array(0));
    // Gather the wanted rows of h (into x, free by now), normalize them, and project to the vocabulary.
    let k = 0;
    for (let s = 0; s < steps.length; s++) {
      for (const i of rowsOf[s]) be.copyRows(h, (offsets[s] + i) * E, x, (k++) * E, E);
    }
    const hf = q; // free by now too, and as large
    be.layerNorm(x, nRows, E, this.weights.lnFWeight, this.weights.lnFBias, cfg.layerNormEpsilon, hf);
    const logitsT = be.alloc(nRows * V);
    be.matmul(hf, nRows, this.weights.lmHead, null, logitsT);
    const logits = await be.read(logitsT);
    be.free(logitsT);
    if (steps.length === 1) return [logits];  // one sequence: its rows are all of them, no copy
    const out: Float32Array[] = [];
    k = 0;
    for (let s = 0; s < steps.length; s++) {
      const n = rowsOf[s].length;
      out.push(logits.slice(k * V, (k + n) * V));
      k += n;
    }
    return out;
  }

  /** The activation buffers for a step of `rows` stacked tokens (grown, never shrunk). */
  private workspaceFor(rows: number): Workspace {
    const w = this.workspace;
    if (w !== null && w.rows >= rows) return w;
    if (w !== null) for (const t of [w.h, w.pos, w.x, w.qkv, w.q, w.att, w.proj, w.ff]) this.backend.free(t);
    const be = this.backend;
    const E = this.config.nEmbd;
    const n = Math.max(rows, w === null ? 1 : w.rows * 2);
    const ws: Workspace = {
      rows: n,
      h: be.alloc(n * E),
      pos: be.alloc(n * E),
      x: be.alloc(n * E),
      qkv: be.alloc(n * 3 * E),
      q: be.alloc(n * E),
      att: be.alloc(n * E),
      proj: be.alloc(n * E),
      ff: be.alloc(n * this.config.nInner),
    };
    this.workspace = ws;
    return ws;
  }
}

/** One sequence's part of a batched forward: its new tokens, its own cache and forward options. */
export interface BatchStep extends ForwardOptions {
  ids: ArrayLike<number>;
  cache: KVCache;
}
