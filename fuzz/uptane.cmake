# Fuzz targets of lib/uptane.
# uptane_manifest: the server's parse + verify of vehicle version manifests, with the fixed keys
# of tests/uptane/uptane_fixed_keys.h. uptane_director_targets: the primary's parse of director
# targets metadata. The seeds in fuzz/corpus/uptane_manifest/ and
# fuzz/corpus/uptane_director_targets/ are written by tests/uptane/uptane_fuzz_seeds.c;
# regenerate with
#   uptane_fuzz_seeds fuzz/corpus/uptane_manifest fuzz/corpus/uptane_director_targets
sdv_add_fuzzer(uptane_manifest SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_uptane_manifest.c
               LIBS sdv_uptane)
sdv_add_fuzzer(uptane_director_targets
               SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_uptane_director_targets.c LIBS sdv_uptane)
