# Fuzz targets of lib/common.
# cjson: sdv_json_parse on untrusted bytes, then canonical JSON must be a fixed point.
sdv_add_fuzzer(cjson SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_cjson.c LIBS sdv_common)
