# delta_exec: the executable reference map (section type 3 of a delta patch) parsed from
# untrusted bytes against a fixed 64 KiB image; accepted maps predict references through exactly
# sized windows (ASan catches a read outside), and a run's prediction must not depend on its
# chunking. Seeds in fuzz/corpus/delta_exec/ (made by tests/delta_exec/delta_exec_seeds.py).
sdv_add_fuzzer(delta_exec SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_delta_exec.c LIBS sdv_delta)
target_include_directories(fuzz_delta_exec PRIVATE ${PROJECT_SOURCE_DIR}/lib/delta)
