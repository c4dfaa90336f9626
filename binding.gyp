{
  "targets": [
    {
      "target_name": "fugaku",
      # One translation unit per part (docs/ARCHITECTURE.md, "native/"). The arch/ files compile to
      # nothing on other architectures; their kernels use target attributes, so no -m flags.
      "sources": [
        "native/napi.cc",
        "native/cpu.cc",
        "native/quant.cc",
        "native/load.cc",
        "native/matmul.cc",
        "native/attention.cc",
        "native/ops.cc",
        "native/blocks.cc",
        "native/blocks_unpack.cc",
        "native/ggml_quantize.cc",
        "native/arch/portable.cc",
        "native/arch/portable_blocks.cc",
        "native/arch/x86/kernels.cc",
        "native/arch/x86/blocks_avx2.cc",
        "native/arch/x86/blocks_avx512.cc",
        "native/arch/x86/unpack_avx512.cc",
        "native/arch/x86/blocks32_avx512.cc",
        "native/arch/arm/kernels.cc",
        "native/arch/arm/blocks_neon.cc"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-ffp-contract=off", "-fexceptions", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-pthread"],
      # macOS (Apple Silicon is the neon set's main target): node-gyp takes compiler flags from
      # xcode_settings there and ignores cflags_cc; the same flags, so that no compiler contracts a
      # kernel's a * b + c into an FMA the reference does not do.
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CPLUSPLUSFLAGS": ["-fno-math-errno", "-ffp-contract=off"]
      }
    }
  ]
}
