# broker_proto_bench: the local wire protocol without the broker core: codec cost per update
# (batch builder, decoder + parser) and publish-to-delivery latency through a relay that parses
# and re-batches, paced at 100,000 updates/s over Unix sockets (docs/broker-protocol.md).
find_package(Threads REQUIRED)
add_executable(broker_proto_bench ${CMAKE_CURRENT_SOURCE_DIR}/broker_proto_bench.c)
target_link_libraries(broker_proto_bench PRIVATE sdv_broker_proto Threads::Threads m)
target_compile_definitions(broker_proto_bench PRIVATE SDV_BENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}")

# Never a timed test: the smoke run only checks that the program still runs to the end.
add_test(NAME broker_proto_bench_smoke COMMAND broker_proto_bench --quick)
set_tests_properties(broker_proto_bench_smoke PROPERTIES LABELS bench TIMEOUT 60)
