# Fuzz targets of lib/tuf.
# tuf_meta: the root, timestamp, snapshot and targets parsers (first byte selects which) on
# untrusted bytes, then signature verification and lookups on whatever parses. The seeds in
# fuzz/corpus/tuf_meta/ are valid metadata written once by tests/tuf/tuf_fuzz_seeds.c (the first
# byte '0'..'3' selects the parser); regenerate with `tuf_fuzz_seeds fuzz/corpus/tuf_meta`.
sdv_add_fuzzer(tuf_meta SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_tuf_meta.c LIBS sdv_tuf)
