# Fuzz target of lib/ecu_link.
# ecu_link: the incremental frame decoder and the message parser on untrusted bytes, split into
# feeds of 1..17 bytes chosen by the first input byte; parsed frames must re-encode to the same
# bytes. The seeds in fuzz/corpus/ecu_link/ are one valid frame of each message type (first byte
# a split choice), a stream of several frames, and a few broken headers.
sdv_add_fuzzer(ecu_link SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_ecu_link.c LIBS sdv_ecu_link)
