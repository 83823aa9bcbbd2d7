# lib/httpd: the request header parsers (Range, If-None-Match/If-Range, identities).
sdv_add_fuzzer(httpd_headers SOURCES ${PROJECT_SOURCE_DIR}/fuzz/fuzz_httpd_headers.c
               LIBS sdv_httpd)
target_include_directories(fuzz_httpd_headers PRIVATE ${PROJECT_SOURCE_DIR}/lib/httpd)
