# Fuzz targets of lib/delta.
# delta_decode: the streaming patch decoder on untrusted bytes against a fixed 4 KiB old image
# (the harness writes that image's length and sha256 into the header so inputs reach the block
# parsers), cut into feeds of 1..64 bytes chosen by the first byte, under a 1 MiB memory limit.
# Seeds in fuzz/corpus/delta_decode/ are real patches against that image (first byte a split
# choice) plus damaged and hand-made ones; regenerate with tests/delta/delta_fuzz_seeds.sh.
sdv_add_fuzzer(delta_decode SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_delta_decode.c
               LIBS sdv_delta)
# delta_roundtrip: the input split into OLD and NEW, diff then apply, must reproduce NEW.
sdv_add_fuzzer(delta_roundtrip SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_delta_roundtrip.c
               LIBS sdv_delta)
