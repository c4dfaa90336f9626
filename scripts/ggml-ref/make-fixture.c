// Writes test/fixtures/ggml-quants/ggml-quants.bin: for every GGUF block type this project reads,
// seeded random rows quantized by ggml itself (ggml_quantize_chunk), ggml's dequantization of them
// (type traits to_float), a random activation row and ggml-cpu's vec_dot of each weight row with it
// (activation quantized by the vec_dot_type's from_float); plus one activation row and ggml's
// quantize_row_q8_K_ref bytes of it. Build and run: see README.md next to this file.
//
// File layout (little-endian): "GGQF" u32 version=1 u32 count, then `count` records:
//   u32 type, u32 n, u32 rows, u32 rowBytes,
//   u8  blocks[rows*rowBytes]   (ggml_quantize_chunk)
//   f32 dequant[rows*n]         (ggml to_float)
//   f32 act[n]                  (activation row)
//   f32 dot[rows]               (ggml-cpu vec_dot(weight row, from_float(act)))
// For type 15 (Q8_K): rows = 2, blocks = quantize_row_q8_K_ref(act) then ggml-cpu's from_float(act)
// (quantize_row_q8_K, SIMD), dequant = act twice, dot = 0.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ggml.h"
#include "ggml-cpu.h"

// exported by libggml-base (ggml/src/ggml-quants.h); declared here to keep the include path minimal
void quantize_row_q8_K_ref(const float * x, void * y, int64_t k);

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (uint32_t)(rng >> 32);
}
static float uniform(void) { return (next_u32() + 0.5f) / 4294967296.0f; }
static float gauss(void) { return sqrtf(-2.0f * logf(uniform())) * cosf(6.2831853f * uniform()); }

static void put_u32(FILE * f, uint32_t v) { fwrite(&v, 4, 1, f); }

int main(int argc, char ** argv) {
  if (argc < 2) { fprintf(stderr, "usage: make-fixture OUT.bin\n"); return 2; }
  ggml_cpu_init();
  const enum ggml_type types[] = {
    GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
    GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
    GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ1_S, GGML_TYPE_IQ4_NL,
    GGML_TYPE_IQ3_S, GGML_TYPE_IQ2_S, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ1_M,
  };
  const int ntypes = sizeof(types) / sizeof(types[0]);
  const int n = 512, rows = 2;
  FILE * f = fopen(argv[1], "wb");
  if (!f) { perror(argv[1]); return 1; }
  fwrite("GGQF", 4, 1, f);
  put_u32(f, 1);
  put_u32(f, ntypes + 1);
  float * x = malloc(sizeof(float) * n * rows);
  float * imat = malloc(sizeof(float) * n);
  float * deq = malloc(sizeof(float) * n * rows);
  float * act = malloc(sizeof(float) * n);
  for (int t = 0; t < ntypes; t++) {
    const enum ggml_type type = types[t];
    const struct ggml_type_traits * tr = ggml_get_type_traits(type);
    const struct ggml_type_traits_cpu * cpu = ggml_get_type_traits_cpu(type);
    const struct ggml_type_traits_cpu * cpuv = ggml_get_type_traits_cpu(cpu->vec_dot_type);
    const size_t rowBytes = ggml_row_size(type, n);
    for (int i = 0; i < n * rows; i++) x[i] = 0.02f * gauss();
    for (int i = 0; i < n; i++) imat[i] = 0.1f + uniform();
    for (int i = 0; i < n; i++) act[i] = gauss();
    uint8_t * q = malloc(rowBytes * rows);
    const int needIm = ggml_quantize_requires_imatrix(type);
    const size_t wrote = ggml_quantize_chunk(type, x, q, 0, rows, n, needIm ? imat : NULL);
    if (wrote != rowBytes * rows) { fprintf(stderr, "%s: wrote %zu\n", tr->type_name, wrote); return 1; }
    tr->to_float(q, deq, (int64_t)n * rows);
    uint8_t * aq = malloc(ggml_row_size(cpu->vec_dot_type, n));
    cpuv->from_float(act, aq, n);
    float dots[2];
    for (int r = 0; r < rows; r++) cpu->vec_dot(n, &dots[r], 0, q + r * rowBytes, 0, aq, 0, 1);
    put_u32(f, type); put_u32(f, n); put_u32(f, rows); put_u32(f, (uint32_t)rowBytes);
    fwrite(q, 1, rowBytes * rows, f);
    fwrite(deq, 4, (size_t)n * rows, f);
    fwrite(act, 4, n, f);
    fwrite(dots, 4, rows, f);
    fprintf(stderr, "%-8s imatrix=%d vec_dot_type=%s dot=%g %g\n", tr->type_name, needIm, ggml_type_name(cpu->vec_dot_type), dots[0], dots[1]);
    free(q); free(aq);
  }
  {
    // Q8_K activation quantization: ggml's reference (from_float_ref = quantize_row_q8_K_ref).
    for (int i = 0; i < n; i++) act[i] = (i % 97 == 0) ? 0.0f : 3.0f * gauss();
    const size_t qb = ggml_row_size(GGML_TYPE_Q8_K, n);
    uint8_t * aq = malloc(2 * qb);
    quantize_row_q8_K_ref(act, aq, n);
    ggml_get_type_traits_cpu(GGML_TYPE_Q8_K)->from_float(act, aq + qb, n);
    put_u32(f, GGML_TYPE_Q8_K); put_u32(f, n); put_u32(f, 2); put_u32(f, (uint32_t)qb);
    fwrite(aq, 1, 2 * qb, f);
    fwrite(act, 4, n, f);
    fwrite(act, 4, n, f);
    fwrite(act, 4, n, f);
    float zero[2] = { 0, 0 }; fwrite(zero, 4, 2, f);
    free(aq);
  }
  fclose(f);
  return 0;
}
