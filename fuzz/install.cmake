# Fuzz target of lib/install: the GRUB environment block, the slot configuration, the install
# log reader and the transaction state file (first byte selects). Seeds in
# fuzz/corpus/install_parse/: a grubenv written by grub-editenv, configurations, a log of three
# records and a state file, each prefixed with its selector byte.
sdv_add_fuzzer(install_parse SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_install_parse.c
               LIBS sdv_install)
target_include_directories(fuzz_install_parse PRIVATE ${PROJECT_SOURCE_DIR}/lib/install)
