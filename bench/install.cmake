# install_bench.sh: `sdv slot install` (write, hash, fsync, read back) against dd conv=fsync +
# sha256sum of the same image in the same run, and the installer's peak RSS for a 1 GiB image
# (docs/install.md); run by hand or with `make bench`. The smoke test uses a 64 MiB image and
# fails only when a slot does not hold the image.
add_test(NAME install_bench_smoke
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install_bench.sh --quick ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(install_bench_smoke PROPERTIES LABELS bench TIMEOUT 300)
