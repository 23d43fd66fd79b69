{
  "targets": [
    {
      "target_name": "p4net_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/bind.cc",
        "native/options.cc",
        "native/tcp_info.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      # Each call is one setsockopt/getsockopt: the syscall dominates, so
      # optimise for size (the shipped prebuilt binary: 31 KB instead of 158 KB
      # at node-gyp's default -O3) and drop unused sections.
      "cflags!": ["-O3"],
      "cflags_cc!": ["-O3"],
      "cflags_cc": ["-std=c++17", "-Os", "-fvisibility=hidden", "-ffunction-sections", "-fdata-sections"],
      "ldflags": ["-Wl,--gc-sections"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "s",
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      }
    }
  ]
}
