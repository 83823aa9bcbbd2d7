# broker_core_bench: publish-to-delivery inside the broker core (no sockets), paced at 100,000
# updates/s and saturated, with p50/p95/p99/p99.9/max (docs/broker.md). The daemon benchmark
# over the Unix socket and WebSocket next to Mosquitto comes with cmd/sdv-broker.
add_executable(broker_core_bench ${CMAKE_CURRENT_SOURCE_DIR}/broker_core_bench.c)
target_link_libraries(broker_core_bench PRIVATE sdv_broker m)
target_include_directories(broker_core_bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(broker_core_bench PRIVATE
    SDV_BENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}"
    SDV_VSS_JSON="${PROJECT_SOURCE_DIR}/data/vss/vss_release_6.0.json")

# Never a timed test: the smoke run only checks that the program still runs to the end.
add_test(NAME broker_core_bench_smoke COMMAND broker_core_bench --quick)
set_tests_properties(broker_core_bench_smoke PROPERTIES LABELS bench TIMEOUT 120)
