// CPU features (ggml-cpu's cpu-feats): what the kernel sets need, and whether a level can run here.
#pragma once

namespace fugaku {

struct CpuFeatures {
  bool x86 = false, avx2 = false, fma = false, f16c = false, avx512f = false, avx512bw = false, avx512vl = false,
       avx512vnni = false, avx512bf16 = false, avxvnni = false, amx = false;
  bool aarch64 = false, dotprod = false;
};
CpuFeatures cpu_features();
// nullptr if this CPU (and OS) can run the kernels of `level` (a valid Level), else why not.
const char* level_unavailable(int level);

}  // namespace fugaku
