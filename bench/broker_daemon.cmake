# broker_bench: sdv-broker's publish-to-delivery latency and throughput over the Unix socket and
# over VISS WebSocket, next to Debian's Mosquitto carrying the same updates in the same run
# (docs/broker-daemon.md). The smoke test only checks that it runs to the end at a tiny load.
find_package(Threads REQUIRED)
if(TARGET sdv_broker_client AND TARGET sdv-broker)
    add_executable(broker_bench ${CMAKE_CURRENT_SOURCE_DIR}/broker_bench.c
                                ${CMAKE_CURRENT_SOURCE_DIR}/bench_util.c)
    target_link_libraries(broker_bench PRIVATE sdv_broker_client sdv_broker_proto sdv_common
                          PkgConfig::LWS PkgConfig::MOSQUITTO PkgConfig::JANSSON m Threads::Threads)
    target_compile_definitions(broker_bench PRIVATE SDV_BENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}")
    add_test(NAME broker_bench_smoke
             COMMAND broker_bench ${PROJECT_BINARY_DIR}/bin
                     ${PROJECT_SOURCE_DIR}/data/vss/vss_release_6.0.json --quick)
    set_tests_properties(broker_bench_smoke PROPERTIES LABELS bench TIMEOUT 120
                         PASS_REGULAR_EXPRESSION "local p99 at [0-9]+ updates/s"
                         RESOURCE_LOCK cpu_dma_latency) # its low-latency pass holds a PM QoS request
endif()
