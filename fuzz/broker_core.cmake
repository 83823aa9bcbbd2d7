# Fuzz targets of the broker core (lib/broker: broker_catalog, broker_value).
# broker_catalog: the VSS catalog loader on untrusted bytes, as an overlay on a small base
# catalog (refusals change nothing; accepted overlays keep the catalog consistent and loading
# one twice is idempotent). Seeds: VSS-shaped catalogs and overlays, good and refused.
sdv_add_fuzzer(broker_catalog SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_broker_catalog.c
               LIBS sdv_broker)
# broker_value: JSON values (first byte: datatype) through from_json, to_json in both forms and
# back, compared equal.
sdv_add_fuzzer(broker_value SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_broker_value.c
               LIBS sdv_broker_proto)
# broker_ops: operation sequences from four sessions (claim, release, publish, subscribe with
# random filters, pop, unsubscribe, actuate, answer, close, clock and tick): popped and stored
# values always pass their signal's checks, queues stay within their bounds, results only reach
# sessions that asked. Seeds: a minimised libFuzzer corpus sample.
sdv_add_fuzzer(broker_ops SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_broker_ops.c LIBS sdv_broker)
