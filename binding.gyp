{
  "targets": [
    {
      "target_name": "fugaku",
      "sources": ["native/fugaku.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-ffp-contract=off", "-fexceptions", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-pthread"]
    }
  ]
}
