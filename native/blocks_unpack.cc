// ggml's block types unpacked for the tile paths of prefill (blocks.h): the 32-blocks as int8 values with
// a scale and offset per block (w = dw[j]·q + mw[j]), the super-block types as each value's integer
// sc·q split into int8 lo/hi parts with a float d per super-block and −dmin·m per sub-block with a min.
// The weight rows of one group are unpacked once per product, then every activation row reuses them, so
// the per-type bit-fiddling is paid once per weight and not once per weight × token as in vec_dot.
//
// The integers are exactly those of ggml's dequantize_row_* and vec_dot_* (ggml_generic.inc: the same
// nibbles, high bits, grids and 6-bit scales, ported from llama.cpp, MIT), and the float scales are the
// products ggml's dequantizers form, so only the float summation order differs from vec_dot.
// The code is blocks_unpack.inc, compiled here for the portable set and in arch/x86/unpack_avx512.cc.
#include <cstring>

#include "blocks.h"
#include "ggml_blocks.h"
#include "ggml_tables.h"

namespace fugaku {
namespace {
namespace unpack_portable {
inline float h(uint16_t x) { return f16_table()[x]; }
#include "blocks_unpack.inc"
}  // namespace unpack_portable
}  // namespace

int unpack_sub(int32_t fmt) { return fmt == Q4_1 || fmt == Q5_0 || fmt == Q5_1 || fmt == IQ4_NL ? 32 : 0; }
bool unpack_has_min(int32_t fmt) { return fmt == Q4_1 || fmt == Q5_1; }
bool unpack_super(int32_t fmt) {
  return fmt == Q2_K || fmt == Q3_K || fmt == Q4_K || fmt == Q5_K || fmt == Q6_K || fmt == IQ4_XS;
}
int unpack_mins(int32_t fmt) { return fmt == Q2_K ? 16 : (fmt == Q4_K || fmt == Q5_K) ? 8 : 0; }

void unpack_block_row(int32_t fmt, const uint8_t* row, int64_t n, int8_t* q, float* dw, float* mw) {
  unpack_portable::block_row(fmt, row, n, q, dw, mw);
}
void unpack_super_row(int32_t fmt, const uint8_t* row, int64_t n, int8_t* lo, int8_t* hi, float* d, float* mw) {
  unpack_portable::super_row(fmt, row, n, lo, hi, d, mw);
}

}  // namespace fugaku
