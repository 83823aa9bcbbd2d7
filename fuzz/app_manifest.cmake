# Fuzz target of `sdv app` (cmd/sdv/app_manifest.c, docs/app-sandbox.md): the manifest a
# third-party app brings with its package. Seeds in fuzz/corpus/app_manifest/ are valid and
# invalid manifests like the ones tests/app_sandbox runs, plus 215 inputs of at most 512 bytes kept
# by a libFuzzer merge after 3.4 million runs (ASan+UBSan, 120 s, no finding); with the cgroup
# limits (cpu_percent, the tree meaning of memory_mb and processes) three hand-written seeds and
# 20 inputs kept by a merge after 6.1 million more runs (60 s, no finding).
sdv_add_fuzzer(app_manifest SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_app_manifest.c
               ${PROJECT_SOURCE_DIR}/cmd/sdv/app_manifest.c LIBS sdv_broker sdv_common)
