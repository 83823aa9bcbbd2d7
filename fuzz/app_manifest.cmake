# Fuzz target of `sdv app` (cmd/sdv/app_manifest.c, docs/app-sandbox.md): the manifest a
# third-party app brings with its package. Seeds in fuzz/corpus/app_manifest/ are valid and
# invalid manifests like the ones tests/app_sandbox runs.
sdv_add_fuzzer(app_manifest SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_app_manifest.c
               ${PROJECT_SOURCE_DIR}/cmd/sdv/app_manifest.c LIBS sdv_broker sdv_common)
