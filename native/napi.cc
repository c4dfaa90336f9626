// The N-API glue: argument checks, typed errors, the constants shared with TypeScript, and one
// function per op (ops.h). src/backend/native-addon.ts declares these functions' types and turns the
// errors thrown here into FugakuErrors; src/backend/native.ts is the Backend built on them.
//
// Errors carry a code (the JavaScript error's `code`): NATIVE_INVALID_ARGUMENT (an argument of the
// wrong type, size or value), OUT_OF_MEMORY (weights or a probe buffer could not be allocated),
// SIMD_UNAVAILABLE (createContext asked for a kernel set this CPU or OS cannot run), NATIVE_INTERNAL (an
// N-API call failed). Contexts and matrices are externals with a type tag, so one cannot be passed for
// the other.
#include <node_api.h>

#include <string>

#include <cstring>

#include "common.h"
#include "cpu.h"
#include "kernels.h"
#include "ops.h"
#include "quant.h"
#include "blocks.h"
#include "ggml_quantize.h"

namespace fugaku {
namespace {

constexpr const char* kInvalid = "NATIVE_INVALID_ARGUMENT";
constexpr const char* kNoMemory = "OUT_OF_MEMORY";
constexpr const char* kUnavailable = "SIMD_UNAVAILABLE";
constexpr const char* kInternal = "NATIVE_INTERNAL";

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, kInternal, "N-API call failed: " #call); return nullptr; } } while (0)

napi_value throw_err(napi_env env, const char* code, const char* msg) { napi_throw_error(env, code, msg); return nullptr; }

bool get_i64(napi_env env, napi_value v, int64_t* out) { return napi_get_value_int64(env, v, out) == napi_ok; }
bool get_f64(napi_env env, napi_value v, double* out) { return napi_get_value_double(env, v, out) == napi_ok; }

// A typed array's data pointer and element count (any element type); false if v is not one.
bool get_ta(napi_env env, napi_value v, void** data, size_t* length, napi_typedarray_type* type) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_value ab; size_t off;
  return napi_get_typedarray_info(env, v, type, length, data, &ab, &off) == napi_ok;
}
bool get_f32(napi_env env, napi_value v, float** data, size_t* n) {
  void* p; napi_typedarray_type t;
  if (!get_ta(env, v, &p, n, &t) || t != napi_float32_array) return false;
  *data = static_cast<float*>(p);
  return true;
}
bool is_null(napi_env env, napi_value v) {
  napi_valuetype t; napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

// Type tags of the two kinds of handle (random 128-bit values).
constexpr napi_type_tag kContextTag = {0x6675676b75637478ull, 0x9a1c5e0b7d3f2461ull};
constexpr napi_type_tag kMatrixTag = {0x6675676b756d6174ull, 0x2b8e4f6a1d7c3905ull};

template <typename T>
napi_value make_external(napi_env env, T* p, const napi_type_tag& tag) {
  napi_value ext;
  if (napi_create_external(env, p, [](napi_env, void* q, void*) { delete static_cast<T*>(q); }, nullptr, &ext) != napi_ok) {
    delete p;
    return throw_err(env, kInternal, "N-API call failed: napi_create_external");
  }
  if (napi_type_tag_object(env, ext, &tag) != napi_ok) return throw_err(env, kInternal, "N-API call failed: napi_type_tag_object");
  return ext;
}
// The T behind a handle made by make_external with `tag`; nullptr for anything else.
template <typename T>
T* unwrap(napi_env env, const napi_type_tag& tag, napi_value v) {
  napi_valuetype t;
  bool ok = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, v, &tag, &ok) != napi_ok || !ok) return nullptr;
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok) return nullptr;
  return static_cast<T*>(p);
}

napi_value GetCpuFeatures(napi_env env, napi_callback_info) {
  napi_value o; CHECK(napi_create_object(env, &o));
  auto set = [&](const char* k, bool b) { napi_value v; napi_get_boolean(env, b, &v); napi_set_named_property(env, o, k, v); };
  const CpuFeatures f = cpu_features();
  set("x86", f.x86);
  if (f.x86) {
    set("avx2", f.avx2); set("fma", f.fma); set("f16c", f.f16c);
    set("avx512f", f.avx512f); set("avx512bw", f.avx512bw); set("avx512vl", f.avx512vl); set("avx512vnni", f.avx512vnni);
    set("avx512bf16", f.avx512bf16); set("avxvnni", f.avxvnni); set("amx", f.amx);
  }
  set("aarch64", f.aarch64);
  if (f.aarch64) set("dotprod", f.dotprod);
  return o;
}

// createContext(threads, level: constants.levels) → external
napi_value CreateContext(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int64_t threads, level;
  if (argc < 2 || !get_i64(env, argv[0], &threads) || !get_i64(env, argv[1], &level) || level < PORTABLE || level > AMX)
    return throw_err(env, kInvalid, "createContext(threads, level: 0 | 1 | 2 | 3 | 4 | 5)");
  if (const char* why = level_unavailable(int(level))) return throw_err(env, kUnavailable, why);
  return make_external(env, new Context(int(std::max<int64_t>(1, std::min<int64_t>(threads, 256))), int(level)), kContextTag);
}

napi_value LoadMatrix(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 7) return throw_err(env, kInvalid, "loadMatrix: 7 arguments");
  auto* ctx = unwrap<Context>(env, kContextTag, argv[0]);
  int64_t srcFmt, in, outd, fmt; bool inOut;
  void* src; size_t len; napi_typedarray_type tt;
  if (!ctx || !get_i64(env, argv[1], &srcFmt) || !get_ta(env, argv[2], &src, &len, &tt) || !get_i64(env, argv[3], &in) ||
      !get_i64(env, argv[4], &outd) || napi_get_value_bool(env, argv[5], &inOut) != napi_ok || !get_i64(env, argv[6], &fmt))
    return throw_err(env, kInvalid, "loadMatrix: bad arguments");
  if (fmt < F32 || fmt >= FORMAT_COUNT) return throw_err(env, kInvalid, "loadMatrix: unknown format");
  if ((fmt == Q8_0 || fmt == Q4_0) && in % QK != 0) return throw_err(env, kInvalid, "loadMatrix: quantized rows need in % 32 == 0");
  Matrix* m = nullptr;
  if (is_block(int32_t(fmt))) {
    // ggml's other block types: raw [out][in] GGUF rows, kept as they are (no conversion to them).
    const BlockType bt = block_type(int32_t(fmt));
    if (srcFmt != fmt) return throw_err(env, kInvalid, "loadMatrix: a k-/i-quant or Q4_1/Q5_x matrix loads only from blocks of its own type");
    if (inOut) return throw_err(env, kInvalid, "loadMatrix: quantized weights must be [out][in]");
    if (in % bt.block != 0) return throw_err(env, kInvalid, "loadMatrix: rows must be whole blocks (in % block size == 0)");
    if (len != size_t(row_bytes_of(int32_t(fmt), in) * outd)) return throw_err(env, kInvalid, "loadMatrix: quantized data has the wrong length");
    m = load_blocks(*ctx, int32_t(fmt), static_cast<const uint8_t*>(src), in, outd);
    if (!m) return throw_err(env, kNoMemory, "loadMatrix: out of memory");
  } else if (srcFmt == fmt && (fmt == Q8_0 || fmt == Q4_0)) {
    // Already quantized [out][in] blocks (GGUF): interleaved into groups of 8 rows.
    if (inOut) return throw_err(env, kInvalid, "loadMatrix: quantized weights must be [out][in]");
    if (len != size_t(row_bytes_of(int32_t(fmt), in) * outd)) return throw_err(env, kInvalid, "loadMatrix: quantized data has the wrong length");
    m = load_quantized(*ctx, int32_t(fmt), static_cast<const uint8_t*>(src), in, outd);
    if (!m) return throw_err(env, kNoMemory, "loadMatrix: out of memory");
  } else {
    if (srcFmt < F32 || srcFmt > F16) return throw_err(env, kInvalid, "loadMatrix: source must be f32/bf16/f16");
    const bool typeOk = srcFmt == F32 ? tt == napi_float32_array : tt == napi_uint16_array;
    if (!typeOk) return throw_err(env, kInvalid, "loadMatrix: f32 source must be a Float32Array, bf16/f16 a Uint16Array");
    if (len != size_t(in * outd)) return throw_err(env, kInvalid, "loadMatrix: source has the wrong length");
    m = load_matrix(*ctx, int32_t(srcFmt), src, in, outd, inOut, int32_t(fmt));
    if (!m) return throw_err(env, kNoMemory, "loadMatrix: out of memory");
  }
  napi_value ext = make_external(env, m, kMatrixTag);
  if (ext) { int64_t adj; napi_adjust_external_memory(env, int64_t(m->bytes), &adj); }
  return ext;
}

// matmul(ctx, m, x, rows, bias|null, out)
napi_value Matmul(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, kContextTag, argv[0]);
  auto* m = unwrap<Matrix>(env, kMatrixTag, argv[1]);
  float *x, *bias = nullptr, *out; size_t nx, nb = 0, no; int64_t rows;
  if (argc < 6 || !ctx || !m || !get_f32(env, argv[2], &x, &nx) || !get_i64(env, argv[3], &rows) ||
      (!is_null(env, argv[4]) && !get_f32(env, argv[4], &bias, &nb)) || !get_f32(env, argv[5], &out, &no))
    return throw_err(env, kInvalid, "matmul: bad arguments");
  if (rows < 0 || nx < size_t(rows * m->in_dim) || no < size_t(rows * m->out_dim) || (bias && nb < size_t(m->out_dim)))
    return throw_err(env, kInvalid, "matmul: array too short for the matrix");
  matmul(*ctx, *m, x, rows, bias, out);
  return nullptr;
}

// embedding(ctx, m, ids: Int32Array, out)
napi_value Embedding(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, kContextTag, argv[0]);
  auto* m = unwrap<Matrix>(env, kMatrixTag, argv[1]);
  void* ids; size_t n; napi_typedarray_type t; float* out; size_t no;
  if (argc < 4 || !ctx || !m || !get_ta(env, argv[2], &ids, &n, &t) || t != napi_int32_array || !get_f32(env, argv[3], &out, &no))
    return throw_err(env, kInvalid, "embedding: bad arguments");
  if (no < n * size_t(m->in_dim)) return throw_err(env, kInvalid, "embedding: output too short");
  for (size_t k = 0; k < n; k++) {
    int32_t id = static_cast<int32_t*>(ids)[k];
    if (id < 0 || id >= m->out_dim) return throw_err(env, kInvalid, "embedding: id out of range");
    dequantize_row(*m, id, out + k * m->in_dim);
  }
  return nullptr;
}

// layerNorm(ctx, x, rows, dim, gamma, beta, eps, out)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = argc >= 8 ? unwrap<Context>(env, kContextTag, argv[0]) : nullptr;
  float *x, *g, *b, *out; size_t nx, ng, nb, no; int64_t rows, dim; double eps;
  if (!ctx || !get_f32(env, argv[1], &x, &nx) || !get_i64(env, argv[2], &rows) || !get_i64(env, argv[3], &dim) ||
      !get_f32(env, argv[4], &g, &ng) || !get_f32(env, argv[5], &b, &nb) || !get_f64(env, argv[6], &eps) || !get_f32(env, argv[7], &out, &no))
    return throw_err(env, kInvalid, "layerNorm: bad arguments");
  if (rows < 0 || dim < 1 || nx < size_t(rows * dim) || no < size_t(rows * dim) || ng < size_t(dim) || nb < size_t(dim)) return throw_err(env, kInvalid, "layerNorm: array too short");
  layer_norm(*ctx, x, rows, dim, g, b, float(eps), out);
  return nullptr;
}

// addInPlace(ctx, a, b, n): a[i] += b[i]
napi_value AddInPlace(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = argc >= 4 ? unwrap<Context>(env, kContextTag, argv[0]) : nullptr;
  float *a, *b; size_t na, nb; int64_t n;
  if (!ctx || !get_f32(env, argv[1], &a, &na) || !get_f32(env, argv[2], &b, &nb) || !get_i64(env, argv[3], &n) || n < 0 || na < size_t(n) || nb < size_t(n))
    return throw_err(env, kInvalid, "addInPlace: bad arguments");
  add_in_place(*ctx, a, b, n);
  return nullptr;
}

// activation(ctx, kind, x, n)
napi_value Activation(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, kContextTag, argv[0]);
  int64_t kind, n; float* x; size_t nx;
  if (argc < 4 || !ctx || !get_i64(env, argv[1], &kind) || !get_f32(env, argv[2], &x, &nx) || !get_i64(env, argv[3], &n) || nx < size_t(n))
    return throw_err(env, kInvalid, "activation: bad arguments");
  if (kind < GELU || kind > SILU) return throw_err(env, kInvalid, "activation: unknown kind");
  activation(*ctx, int32_t(kind), x, n);
  return nullptr;
}

// attention(ctx, q, t, kCache, vCache, past, nHead, headDim, scale, keyMask|null, out); caches are
// Float32Array or Uint16Array (f16 bits), both of the same type.
napi_value Attention(napi_env env, napi_callback_info info) {
  size_t argc = 11; napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, kContextTag, argv[0]);
  float *q, *out; size_t nq, nk, nv, no; int64_t t, past, nHead, headDim; double scale;
  void *kc, *vc; napi_typedarray_type kt, vt;
  void* mask = nullptr; size_t nm = 0; napi_typedarray_type mt;
  if (argc < 11 || !ctx || !get_f32(env, argv[1], &q, &nq) || !get_i64(env, argv[2], &t) || !get_ta(env, argv[3], &kc, &nk, &kt) ||
      !get_ta(env, argv[4], &vc, &nv, &vt) || !get_i64(env, argv[5], &past) || !get_i64(env, argv[6], &nHead) || !get_i64(env, argv[7], &headDim) ||
      !get_f64(env, argv[8], &scale) || (!is_null(env, argv[9]) && !get_ta(env, argv[9], &mask, &nm, &mt)) || !get_f32(env, argv[10], &out, &no))
    return throw_err(env, kInvalid, "attention: bad arguments");
  if (kt != vt || (kt != napi_float32_array && kt != napi_uint16_array)) return throw_err(env, kInvalid, "attention: caches must both be Float32Array or both Uint16Array");
  const size_t width = size_t(nHead * headDim);
  if (nq < size_t(t) * width || no < size_t(t) * width || nk < size_t(past + t) * width || nv < size_t(past + t) * width || (mask && nm < size_t(past + t)))
    return throw_err(env, kInvalid, "attention: array too short");
  if (kt == napi_float32_array)
    attention(*ctx, q, t, static_cast<const float*>(kc), static_cast<const float*>(vc), past, nHead, headDim, float(scale), static_cast<const uint8_t*>(mask), out);
  else
    attention(*ctx, q, t, static_cast<const uint16_t*>(kc), static_cast<const uint16_t*>(vc), past, nHead, headDim, float(scale), static_cast<const uint8_t*>(mask), out);
  return nullptr;
}


// storeRows(ctx, src, srcOff, srcStride, dst, dstOff, n, rows): row r's n values from src[srcOff + r·srcStride]
// to dst[dstOff + r·n] (rows contiguous in dst), rounded to nearest-even f16 when dst is a Uint16Array.
napi_value StoreRows(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, kContextTag, argv[0]);
  float* src; size_t ns, nd; void* dst; napi_typedarray_type dt; int64_t so, ss, dof, n, rows;
  if (argc < 8 || !ctx || !get_f32(env, argv[1], &src, &ns) || !get_i64(env, argv[2], &so) || !get_i64(env, argv[3], &ss) ||
      !get_ta(env, argv[4], &dst, &nd, &dt) || !get_i64(env, argv[5], &dof) || !get_i64(env, argv[6], &n) || !get_i64(env, argv[7], &rows) ||
      (dt != napi_float32_array && dt != napi_uint16_array))
    return throw_err(env, kInvalid, "storeRows(ctx, src: Float32Array, srcOff, srcStride, dst: Float32Array | Uint16Array, dstOff, n, rows)");
  if (so < 0 || ss < 0 || dof < 0 || n < 0 || rows < 0) return throw_err(env, kInvalid, "storeRows: negative offset or size");
  if (rows == 0 || n == 0) return nullptr;
  if (size_t(so + (rows - 1) * ss + n) > ns || size_t(dof + rows * n) > nd) return throw_err(env, kInvalid, "storeRows: array too short");
  if (dt == napi_uint16_array) {
    store_rows_f16(*ctx, src + so, ss, static_cast<uint16_t*>(dst) + dof, n, rows);
  } else {
    for (int64_t r = 0; r < rows; r++) std::memcpy(static_cast<float*>(dst) + dof + r * n, src + so + r * ss, size_t(n) * 4);
  }
  return nullptr;
}

// quantizeRows(ctx, format, src: Float32Array, nRows, nPerRow, imatrix: Float32Array | null, dst: Uint8Array):
// ggml_quantize_chunk (ggml_quantize.h) into dst, on the context's threads.
napi_value QuantizeRows(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = argc >= 7 ? unwrap<Context>(env, kContextTag, argv[0]) : nullptr;
  int64_t fmt, rows, n; float *src, *qw = nullptr; size_t ns, nq = 0, nd; void* dst; napi_typedarray_type dt;
  if (!ctx || !get_i64(env, argv[1], &fmt) || !get_f32(env, argv[2], &src, &ns) || !get_i64(env, argv[3], &rows) || !get_i64(env, argv[4], &n) ||
      (!is_null(env, argv[5]) && !get_f32(env, argv[5], &qw, &nq)) || !get_ta(env, argv[6], &dst, &nd, &dt) || dt != napi_uint8_array)
    return throw_err(env, kInvalid, "quantizeRows(ctx, format, src: Float32Array, nRows, nPerRow, imatrix: Float32Array | null, dst: Uint8Array)");
  if (!ggml_quantize_supported(int32_t(fmt))) return throw_err(env, kInvalid, "quantizeRows: the format is not one of Q4_0, Q5_0, Q5_1, Q8_0, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS");
  const int64_t block = fmt == Q4_0 || fmt == Q8_0 ? QK : block_type(int32_t(fmt)).block;
  if (rows < 0 || n < 1 || n % block != 0) return throw_err(env, kInvalid, "quantizeRows: nPerRow must be a positive multiple of the block size");
  if (ns < size_t(rows) * size_t(n)) return throw_err(env, kInvalid, "quantizeRows: src is shorter than nRows × nPerRow");
  if (qw && nq != size_t(n)) return throw_err(env, kInvalid, "quantizeRows: imatrix must hold nPerRow values");
  if (nd < size_t(rows) * size_t(row_bytes_of(int32_t(fmt), n))) return throw_err(env, kInvalid, "quantizeRows: dst is shorter than nRows rows of blocks");
  if (rows > 0) ggml_quantize_rows(ctx->pool, int32_t(fmt), src, rows, n, qw, static_cast<uint8_t*>(dst));
  return nullptr;
}

// The bandwidth probes' arguments (ctx, n, reps); false after throwing if they are bad.
bool probe_args(napi_env env, napi_callback_info info, const char* usage, Context** ctx, int64_t* n, int64_t* reps) {
  size_t argc = 3; napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3 || !(*ctx = unwrap<Context>(env, kContextTag, argv[0])) ||
      !get_i64(env, argv[1], n) || !get_i64(env, argv[2], reps) || *n < 1024 || *reps < 1) {
    throw_err(env, kInvalid, usage);
    return false;
  }
  return true;
}

// A bandwidth probe's result: probe(ctx, n, reps) → best GB/s, negative when out of memory.
napi_value run_probe(napi_env env, napi_callback_info info, const char* name, double (*probe)(Context&, int64_t, int64_t)) {
  Context* ctx; int64_t n, reps;
  const std::string usage = std::string(name) + "(ctx, n >= 1024, reps >= 1)";
  if (!probe_args(env, info, usage.c_str(), &ctx, &n, &reps)) return nullptr;
  const double best = probe(*ctx, n, reps);
  if (best < 0) return throw_err(env, kNoMemory, (std::string(name) + ": out of memory").c_str());
  napi_value v; CHECK(napi_create_double(env, best, &v));
  return v;
}

// streamTriad(ctx, n, reps) → best GB/s of a[i] = b[i] + s·c[i] over n floats (ops.cc).
napi_value StreamTriad(napi_env env, napi_callback_info info) { return run_probe(env, info, "streamTriad", stream_triad); }

// streamRead(ctx, n, reps) → best GB/s of reading n floats' bytes with the pool's threads (ops.cc).
napi_value StreamRead(napi_env env, napi_callback_info info) { return run_probe(env, info, "streamRead", stream_read); }

// matrixBytes(m) → the weights' size in bytes
napi_value MatrixBytes(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* m = unwrap<Matrix>(env, kMatrixTag, argv[0]);
  if (!m) return throw_err(env, kInvalid, "matrixBytes: bad arguments");
  // The weights' bytes (row_bytes · out_dim), not the zero rows that pad the last interleaved group.
  napi_value v; CHECK(napi_create_double(env, double(m->row_bytes) * double(m->out_dim), &v));
  return v;
}

// exports.constants: the codes of formats, levels and activations that the functions above take,
// by name (what TypeScript reads instead of keeping the numbers itself).
napi_value Constants(napi_env env) {
  struct Entry { const char* name; int32_t value; };
  const Entry formats[] = {{"F32", F32}, {"BF16", BF16}, {"F16", F16}, {"Q8_0", Q8_0}, {"Q4_0", Q4_0},
                           {"Q4_1", Q4_1}, {"Q5_0", Q5_0}, {"Q5_1", Q5_1}, {"Q2_K", Q2_K}, {"Q3_K", Q3_K}, {"Q4_K", Q4_K},
                           {"Q5_K", Q5_K}, {"Q6_K", Q6_K}, {"IQ2_XXS", IQ2_XXS}, {"IQ2_XS", IQ2_XS}, {"IQ3_XXS", IQ3_XXS},
                           {"IQ1_S", IQ1_S}, {"IQ4_NL", IQ4_NL}, {"IQ3_S", IQ3_S}, {"IQ2_S", IQ2_S}, {"IQ4_XS", IQ4_XS},
                           {"IQ1_M", IQ1_M}};
  const Entry levels[] = {{"portable", PORTABLE}, {"avx2", AVX2}, {"avx512", AVX512}, {"neon", NEON}, {"avxvnni", AVXVNNI}, {"amx", AMX}};
  const Entry acts[] = {{"gelu", GELU}, {"gelu_tanh", GELU_TANH}, {"gelu_fast", GELU_FAST}, {"quick_gelu", QUICK_GELU}, {"relu", RELU}, {"silu", SILU}};
  auto table = [&](const Entry* e, size_t n) -> napi_value {
    napi_value o;
    if (napi_create_object(env, &o) != napi_ok) return nullptr;
    for (size_t i = 0; i < n; i++) {
      napi_value v;
      if (napi_create_int32(env, e[i].value, &v) != napi_ok || napi_set_named_property(env, o, e[i].name, v) != napi_ok) return nullptr;
    }
    return napi_object_freeze(env, o) == napi_ok ? o : nullptr;
  };
  napi_value c, f, l, a;
  if (napi_create_object(env, &c) != napi_ok || !(f = table(formats, FORMAT_COUNT)) || !(l = table(levels, 6)) || !(a = table(acts, 6))) return nullptr;
  if (napi_set_named_property(env, c, "formats", f) != napi_ok || napi_set_named_property(env, c, "levels", l) != napi_ok ||
      napi_set_named_property(env, c, "activations", a) != napi_ok || napi_object_freeze(env, c) != napi_ok)
    return nullptr;
  return c;
}

napi_value Init(napi_env env, napi_value exports) {
  struct { const char* name; napi_callback fn; } fns[] = {
      {"cpuFeatures", GetCpuFeatures}, {"createContext", CreateContext}, {"loadMatrix", LoadMatrix}, {"matmul", Matmul},
      {"embedding", Embedding},     {"layerNorm", LayerNorm},         {"activation", Activation}, {"attention", Attention},
      {"matrixBytes", MatrixBytes}, {"streamTriad", StreamTriad}, {"streamRead", StreamRead}, {"storeRows", StoreRows},
      {"addInPlace", AddInPlace}, {"quantizeRows", QuantizeRows},
  };
  for (auto& f : fns) {
    napi_value v;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v) != napi_ok) return nullptr;
    napi_set_named_property(env, exports, f.name, v);
  }
  napi_value c = Constants(env);
  if (!c || napi_set_named_property(env, exports, "constants", c) != napi_ok) return nullptr;
  return exports;
}

}  // namespace
}  // namespace fugaku

NAPI_MODULE(NODE_GYP_MODULE_NAME, fugaku::Init)
