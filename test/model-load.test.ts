/**
 * Loading GPT-2 checkpoints that disagree with their config, or are not GPT-2 at all, gives typed
 * errors naming the file/tensor; a consistent hand-built checkpoint loads with either tensor naming.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadGPT2 } from '../src/model/load.js';
import { ReferenceBackend } from '../src/backend/reference.js';
import { buildSafetensors, withTempDir, type TempDir, type TensorSpec } from './build-safetensors.js';

const E = 8;
const baseConfig = {
  model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 16, n_positions: 8, n_embd: E, n_layer: 1, n_head: 2,
  n_inner: null, activation_function: 'gelu_fast', tie_word_embeddings: true, eos_token_id: 7, bos_token_id: 1,
};

function f32(shape: number[], seed: number): TensorSpec['data'] {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(seed * 13.7 + i * 0.37) * 0.2;
  return new Uint8Array(a.buffer);
}

function tensors(cfg: { n_embd: number; n_layer: number; vocab_size: number; n_positions: number }, prefix = 'transformer.'): TensorSpec[] {
  const e = cfg.n_embd;
  const spec: [string, number[]][] = [['wte.weight', [cfg.vocab_size, e]], ['wpe.weight', [cfg.n_positions, e]]];
  for (let l = 0; l < cfg.n_layer; l++) {
    spec.push(
      [`h.${l}.ln_1.weight`, [e]], [`h.${l}.ln_1.bias`, [e]],
      [`h.${l}.attn.c_attn.weight`, [e, 3 * e]], [`h.${l}.attn.c_attn.bias`, [3 * e]],
      [`h.${l}.attn.c_proj.weight`, [e, e]], [`h.${l}.attn.c_proj.bias`, [e]],
      [`h.${l}.ln_2.weight`, [e]], [`h.${l}.ln_2.bias`, [e]],
      [`h.${l}.mlp.c_fc.weight`, [e, 4 * e]], [`h.${l}.mlp.c_fc.bias`, [4 * e]],
      [`h.${l}.mlp.c_proj.weight`, [4 * e, e]], [`h.${l}.mlp.c_proj.bias`, [e]],
    );
  }
  spec.push(['ln_f.weight', [e]], ['ln_f.bias', [e]]);
  return spec.map(([name, shape], i) => ({ name: prefix + name, dtype: 'F32', shape, data: f32(shape, i) }));
}

async function write(t: TempDir, config: Record<string, unknown>, ts: TensorSpec[]): Promise<void> {
  await t.write('config.json', config);
  await t.write('model.safetensors', buildSafetensors(ts));
}

async function expectCode(config: Record<string, unknown>, ts: TensorSpec[], code: string, pattern?: RegExp): Promise<void> {
  await withTempDir(async (t) => {
    await write(t, config, ts);
    await assert.rejects(loadGPT2(t.dir, { backend: new ReferenceBackend() }), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, code, e.message);
      if (pattern) assert.match(e.message, pattern);
      assert.ok(e.hint && e.hint.length > 0, 'every error carries a hint');
      return true;
    });
  });
}

test('a consistent checkpoint loads with or without the transformer. prefix and runs', async () => {
  for (const prefix of ['transformer.', '']) {
    await withTempDir(async (t) => {
      const ts = tensors(baseConfig, prefix).concat([{ name: `${prefix}h.0.attn.bias`, dtype: 'F32', shape: [1, 1, 8, 8] }]);
      await write(t, baseConfig, ts);
      const { model } = await loadGPT2(t.dir, { backend: new ReferenceBackend() });
      assert.equal(model.config.activation, 'gelu_fast');
      assert.equal(model.config.headDim, 4);
      const logits = await model.forward([1, 2, 3], model.newCache());
      assert.equal(logits.length, 16);
      assert.ok(logits.every(Number.isFinite));
    });
  }
});

test('config and weights that disagree', async () => {
  await expectCode({ ...baseConfig, n_embd: 12, n_head: 2 }, tensors(baseConfig), 'TENSOR_SHAPE_MISMATCH', /wte\.weight.*\[16, 8\].*\[16, 12\]/);
  await expectCode({ ...baseConfig, vocab_size: 20 }, tensors(baseConfig), 'TENSOR_SHAPE_MISMATCH', /vocab_size/);
  await expectCode({ ...baseConfig, n_layer: 2 }, tensors(baseConfig), 'TENSOR_MISSING', /h\.1\.ln_1\.weight/);
  await expectCode(baseConfig, tensors({ ...baseConfig, n_layer: 2 }), 'TENSOR_UNEXPECTED', /h\.1\./);
  await expectCode({ ...baseConfig, tie_word_embeddings: false }, tensors(baseConfig), 'TENSOR_MISSING', /lm_head\.weight/);
  await expectCode(baseConfig, tensors(baseConfig).filter((t) => !t.name.endsWith('mlp.c_fc.bias')), 'TENSOR_MISSING', /mlp\.c_fc\.bias/);
  await expectCode(baseConfig, tensors(baseConfig).concat([{ name: 'transformer.h.0.attn.q_proj.weight', dtype: 'F32', shape: [8, 8] }]), 'TENSOR_UNEXPECTED', /q_proj/);
});

test('unsupported architectures and invalid configs', async () => {
  await expectCode({ ...baseConfig, model_type: 'llama', architectures: ['LlamaForCausalLM'] }, tensors(baseConfig), 'ARCH_UNSUPPORTED', /llama/);
  await expectCode({ ...baseConfig, architectures: ['GPT2ForSequenceClassification'] }, tensors(baseConfig), 'ARCH_UNSUPPORTED');
  await expectCode({ ...baseConfig, activation_function: 'swiglu' }, tensors(baseConfig), 'CONFIG_INVALID', /activation_function/);
  await expectCode({ ...baseConfig, n_head: 3 }, tensors(baseConfig), 'CONFIG_INVALID', /n_head/);
  await expectCode({ ...baseConfig, n_embd: -8 }, tensors(baseConfig), 'CONFIG_INVALID', /n_embd/);
  await expectCode({ ...baseConfig, layer_norm_epsilon: 'small' }, tensors(baseConfig), 'CONFIG_INVALID', /layer_norm_epsilon/);
  const { model_type: _m, architectures: _a, ...anonymous } = baseConfig;
  await expectCode(anonymous, tensors(baseConfig), 'CONFIG_INVALID');
});

test('a shard cut short is reported, not computed on', async () => {
  await withTempDir(async (t) => {
    await t.write('config.json', baseConfig);
    const bytes = buildSafetensors(tensors(baseConfig));
    await t.write('model.safetensors', bytes.subarray(0, bytes.length - 100));
    await assert.rejects(loadGPT2(t.dir, { backend: new ReferenceBackend() }), { code: 'SAFETENSORS_INVALID' });
  });
});

test('weights larger than the memory limit are refused before loading', async () => {
  await withTempDir(async (t) => {
    await write(t, baseConfig, tensors(baseConfig));
    await assert.rejects(loadGPT2(t.dir, { backend: new ReferenceBackend(), memoryLimit: 1000 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'INSUFFICIENT_MEMORY');
      assert.match(e.message, /GiB/);
      return true;
    });
    const ok = await loadGPT2(t.dir, { backend: new ReferenceBackend(), memoryLimit: 1e6 });
    assert.equal(ok.model.config.nLayer, 1);
    // The machine's memory is the default limit for a backend that keeps weights in host memory, but not for
    // a GPU backend (weights in device memory: 26 GB of bf16 load on a 24 GiB machine).
    await assert.rejects(loadGPT2(t.dir, { backend: new ReferenceBackend(), hostMemory: 1000 }), { code: 'INSUFFICIENT_MEMORY' });
    class DeviceResident extends ReferenceBackend {
      override readonly weightMemory = 'device' as const;
    }
    const onDevice = await loadGPT2(t.dir, { backend: new DeviceResident(), hostMemory: 1000 });
    assert.equal(onDevice.model.config.nLayer, 1);
  });
});

test('a GGUF whose matrices mix ggml block types (as llama.cpp Q4_K_M files do) loads each matrix as stored', async () => {
  const { convertToGGUF } = await import('../src/convert/to-gguf.js');
  const { openGGUF, writeGGUF } = await import('../src/io/gguf.js');
  const { defaultModelDir } = await import('../src/paths.js');
  const { Rng } = await import('../src/generation/rng.js');
  const { randomBlockRows } = await import('./ggml-blocks.js');
  const { dequantizeRowGGML } = await import('../src/tensor/ggml/dequantize.js');
  const { blockRowBytes } = await import('../src/tensor/ggml/formats.js');
  const { relErr } = await import('./helpers.js');
  type BT = import('../src/tensor/ggml/formats.js').GGMLBlockType;
  await withTempDir(async (t) => {
    const f32File = `${t.dir}/f32.gguf`;
    await convertToGGUF({ model: defaultModelDir, out: f32File, dtype: 'f32' });
    const g = await openGGUF(f32File);
    const metadata = [...g.metadata];
    const infos = [...g.tensors.values()];
    await g.close();
    // tiny-ja-demo is 256 wide (MLP 1024), so every block type fits; token_embd as Q6_K, as llama.cpp writes it.
    const cycle: BT[] = ['Q4_K', 'Q5_0', 'IQ4_NL', 'Q8_0', 'Q5_1', 'Q3_K', 'IQ4_XS', 'Q2_K', 'Q4_1', 'IQ3_S', 'Q5_K', 'IQ2_S', 'IQ3_XXS', 'Q4_0', 'IQ2_XS', 'IQ1_M', 'IQ2_XXS', 'IQ1_S'];
    const rng = new Rng(18);
    const types = new Map<string, BT>();
    const blocks = new Map<string, Uint8Array>();
    const floats = new Map<string, Float32Array>();
    let k = 0;
    for (const info of infos) {
      if (info.shape.length !== 2) continue;
      const type = info.name === 'token_embd.weight' ? 'Q6_K' : cycle[k++ % cycle.length];
      const [rows, n] = info.shape;
      const b = randomBlockRows(type, rows, n, () => Math.floor(rng.nextFloat() * 256), () => (rng.nextFloat() - 0.5) * 0.004);
      const f = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) dequantizeRowGGML(type, b, r * blockRowBytes(type, n), n, f, r * n);
      types.set(info.name, type);
      blocks.set(info.name, b);
      floats.set(info.name, f);
    }
    assert.ok(types.size >= 18, 'every matrix of the model');
    const mixed = `${t.dir}/mixed.gguf`;
    const deq = `${t.dir}/deq.gguf`;
    const read = await openGGUF(f32File);
    const spec = (withTypes: boolean) => ({ metadata, tensors: infos.map((i) => ({ name: i.name, type: withTypes ? types.get(i.name) ?? i.type : i.type, shape: i.shape })) });
    await writeGGUF(mixed, spec(true), async (s) => blocks.get(s.name) ?? (await read.readTensor(s.name)).data);
    await writeGGUF(deq, spec(false), async (s) => floats.get(s.name) ?? (await read.readTensor(s.name)).data);
    await read.close();

    const a = await loadGPT2(mixed, { backend: new ReferenceBackend() });
    const b = await loadGPT2(deq, { backend: new ReferenceBackend() });
    assert.equal(a.model.weights.wte.format, 'Q6_K');
    assert.equal(a.model.weights.blocks[0].attnQKV.format, types.get('blk.0.attn_qkv.weight'));
    assert.equal(new Set([a.model.weights.wpe, ...a.model.weights.blocks.flatMap((bl) => [bl.attnQKV, bl.attnProj, bl.mlpFc, bl.mlpProj])].map((m) => m.format)).size, Math.min(k, cycle.length));
    const ids = [5, 300, 1200];
    const la = await a.model.forward(ids, a.model.newCache(8), {});
    const lb = await b.model.forward(ids, b.model.newCache(8), {});
    assert.ok(la.every(Number.isFinite));
    // Same weights; only the activation quantization of the integer dots differs (int8 activations).
    assert.ok(relErr(la, lb) < 5e-2, `rel err ${relErr(la, lb)}`);
    // The native backend computes on the same blocks with the same integer sums (ggml's vec_dot kernels).
    const { NativeBackend } = await import('../src/backend/native.js');
    for (const simd of ['portable', 'auto'] as const) {
      const n = await loadGPT2(mixed, { backend: NativeBackend.create({ threads: 2, simd }) });
      assert.equal(n.model.weights.wte.format, 'Q6_K');
      const ln = await n.model.forward(ids, n.model.newCache(8), {});
      assert.ok(relErr(ln, la) < 1e-3, `native ${simd}: rel err ${relErr(ln, la)} vs the reference`);
    }
    await assert.rejects(loadGPT2(mixed, { backend: new ReferenceBackend(), dtype: 'q8_0' }), (e: { code?: string; message?: string }) => e.code === 'DTYPE_UNSUPPORTED' && /already quantized/.test(e.message ?? ''));
  });
});
