# Fuzz targets of the broker's wire codecs (lib/broker: broker_frame*, broker_viss*).
# broker_frame: the incremental frame decoder and the message parser on untrusted bytes, split
# into feeds of 1..17 bytes chosen by the first input byte; parsed frames must re-encode to the
# same bytes. Seeds in fuzz/corpus/broker_frame/: one frame of each message type and a stream
# (first byte a split choice), broken headers, and (hash-named) inputs of at most 512 bytes kept
# by a libFuzzer merge of a long run.
sdv_add_fuzzer(broker_frame SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_broker_frame.c
               LIBS sdv_broker_proto)
# broker_viss: the VISS v3 JSON request parser (WebSocket message and HTTP POST body). Seeds in
# fuzz/corpus/broker_viss/: the requests of the VISS v3 transport examples, broken ones, and
# (hash-named) inputs kept by a libFuzzer merge of a long run.
sdv_add_fuzzer(broker_viss SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_broker_viss.c
               LIBS sdv_broker_proto)
