# checkin_bench.sh: a fleet's steady state (vehicles checking in with nothing new) against
# sdv-server, next to nginx serving the same timestamp file in the same run (docs/bench.md); run
# with `make bench`. The smoke test only checks that the script still runs to the end and prints
# the ratio at tiny sizes: it passes whatever the figure.
if(TARGET sdv-server AND TARGET sdv)
    add_test(NAME checkin_bench_smoke
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/checkin_bench.sh --quick
                     ${PROJECT_BINARY_DIR}/bin)
    set_tests_properties(checkin_bench_smoke PROPERTIES
        LABELS bench TIMEOUT 120
        PASS_REGULAR_EXPRESSION "sdv-server / nginx: [0-9.]+ \\(target >= 0.5: (PASS|BELOW)\\)")
endif()
