# tuf_bench: signature verification, a full refresh of a repository with hash-bin delegations,
# and a no-change refresh over HTTP, each next to a baseline measured in the same run
# (docs/bench.md). Built in every configuration so that it always compiles; run with `make bench`.
add_executable(tuf_bench ${CMAKE_CURRENT_SOURCE_DIR}/tuf_bench.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/bench_util.c)
target_link_libraries(tuf_bench PRIVATE sdv_tuf sdv_net sdv_crypto sdv_common
                      PkgConfig::LIBCRYPTO PkgConfig::LIBCURL PkgConfig::JANSSON)
target_compile_definitions(tuf_bench PRIVATE SDV_BENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}")

# Benchmarks are never timed tests: the smoke test only checks that the program still runs to
# the end at tiny sizes, so it cannot rot.
add_test(NAME tuf_bench_smoke COMMAND tuf_bench --quick)
set_tests_properties(tuf_bench_smoke PROPERTIES LABELS bench TIMEOUT 120)
