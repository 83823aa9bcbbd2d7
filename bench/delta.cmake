# delta_bench.sh: `sdv delta` against bsdiff, xdelta3, zstd --patch-from and xz of the whole new
# file, in the same run, on the corpus of ../shared/bench/delta-corpus.sh (docs/bench.md); run
# with `make bench`. The smoke test runs it on one synthetic 4 MiB pair (no corpus, no network).
# It passes whatever the figures, and before `sdv delta` exists it measures the baselines alone;
# it fails when any tool, ours included, exits with an error or reproduces the wrong bytes.
add_test(NAME delta_bench_smoke
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/delta_bench.sh --quick ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(delta_bench_smoke PROPERTIES LABELS bench TIMEOUT 300)
