# Fuzz targets of lib/broker's access control.
# broker_auth: JWT access tokens, claims, scope strings and purposes configurations (the first
# byte selects which; see fuzz/fuzz_broker_auth.c). The seeds in fuzz/corpus/broker_auth/ are
# tokens minted with the fuzzer's own test keys by `sdv token mint`, and small documents.
sdv_add_fuzzer(broker_auth SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_broker_auth.c LIBS sdv_broker)
