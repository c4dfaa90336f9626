// ggml's other block types (Q4_1 ... IQ1_M, common.h's Format) on raw GGUF block rows [out][in]
// (blocks.cc): the activation quantizers their integer dots take (bit-identical to the TypeScript
// spec, src/tensor/ggml/activations.ts), one row's dequantization (embedding), loading and the
// matmul driver (ggml-cpu's vec_dot model: each activation row quantized once, then one dot per
// weight row × activation row from the kernel table's vec_dot).
#pragma once

#include "common.h"
#include "kernels.h"

namespace fugaku {

// Bytes of one activation row of n values quantized for `act` (ggml_blocks.h's block_q8_0/q8_1/q8_K).
int64_t act_row_bytes(int32_t act, int64_t n);
// One activation row quantized for `act` into dst (act_row_bytes): Q8_0 and Q8_1 by k.quantize_acts
// (32-blocks, d = amax/127; Q8_1 adds s = d·Σq), Q8_K by ggml's quantize_row_q8_K_ref.
void quantize_act_row(const Kernels& k, int32_t act, const float* x, int64_t n, uint8_t* dst);
// Row `row` (n values of block type fmt) as float32 (ggml's dequantize_row_*).
void dequantize_block_row(int32_t fmt, const uint8_t* row, int64_t n, float* out);
// Raw [out][in] block rows copied into a matrix (nullptr when out of memory).
Matrix* load_blocks(Context& ctx, int32_t fmt, const uint8_t* blocks, int64_t in, int64_t outd);
// out[r][o] = x_r · row o (+ bias[o]) for a block-type matrix.
void matmul_blocks(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out);
// The tile paths' weights (blocks_unpack.cc). The 32-blocks (Q4_1, Q5_0, Q5_1, IQ4_NL; Q8_0/Q8_1
// activations): unpack_sub gives 32 (0 for the other formats), unpack_has_min whether the blocks have
// offsets; unpack_block_row gives a row of n values as int8 q[n] and, per block j, w = dw[j]·q + mw[j].
int unpack_sub(int32_t fmt);
bool unpack_has_min(int32_t fmt);
void unpack_block_row(int32_t fmt, const uint8_t* row, int64_t n, int8_t* q, float* dw, float* mw);
// The super-block types with Q8_K activations (Q2_K … Q6_K, IQ4_XS): each value's integer sc·q (its
// sub-block's integer scale times its quant, ggml's integers, |sc·q| ≤ 4096) as 128·hi + lo with
// lo ∈ [0, 127], so that two int8 products give ggml's per-super-block integer sum exactly; per
// super-block i the float d[i], and for the MS = unpack_mins(fmt) sub-blocks with mins (0, 8 or 16)
// mw[i·MS + j] = −dmin·m_j: w = d·(128·hi + lo) + mw over sub-block j.
bool unpack_super(int32_t fmt);
int unpack_mins(int32_t fmt);
void unpack_super_row(int32_t fmt, const uint8_t* row, int64_t n, int8_t* lo, int8_t* hi, float* d, float* mw);
// The portable vec_dot entries (arch/portable_blocks.cc).
void fill_blocks_portable(Kernels& k);

}  // namespace fugaku
