{
  "targets": [
    {
      "target_name": "fugaku",
      "sources": ["native/fugaku.cc"],
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
