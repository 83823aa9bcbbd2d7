# broker_auth_bench: token verification next to the bare signature check, and the per-event
# access check (cached, uncached, and a naive split-per-check baseline) against the issue's
# 100,000 events/s (docs/broker-auth.md). Built in every configuration so that it always
# compiles; the smoke test only checks that it still runs to the end at tiny sizes.
add_executable(broker_auth_bench ${CMAKE_CURRENT_SOURCE_DIR}/broker_auth_bench.c
                                 ${CMAKE_CURRENT_SOURCE_DIR}/bench_util.c)
target_link_libraries(broker_auth_bench PRIVATE sdv_broker sdv_crypto sdv_common)
add_test(NAME broker_auth_bench_smoke COMMAND broker_auth_bench --quick)
set_tests_properties(broker_auth_bench_smoke PROPERTIES LABELS bench TIMEOUT 120)
