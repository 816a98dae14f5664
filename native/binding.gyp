{
  "targets": [
    {
      "target_name": "retune_native",
      "sources": [
        "src/addon.cc",
        "src/pool.cc",
        "src/gemm.cc",
        "src/gemm_kernels.cc",
        "src/gemm_bf16.cc",
        "src/decode_rows.cc",
        "src/decode_attention.cc",
        "src/gemm_kernels_avx512.cc",
        "src/attention.cc",
        "src/attention_softmax.cc",
        "src/attention_tiles.cc",
        "src/norm_rope.cc",
        "src/loss_optim.cc",
        "src/elementwise.cc",
        "src/low_rank.cc",
        "src/cpu.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-O2"],
      "cflags_cc!": ["-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CPLUSPLUSFLAGS": ["-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "Optimization": 2 } }
    }
  ]
}
