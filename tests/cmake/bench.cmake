# bench/run --smoke: every bench workload for about a second against gaapd (Python origin, wrk),
# so the bench scripts never rot. Checks that they run, never how fast (bench/README.md).
add_test(NAME bench_smoke COMMAND ${PROJECT_SOURCE_DIR}/bench/run --smoke)
set_tests_properties(bench_smoke PROPERTIES LABELS bench TIMEOUT 120
	ENVIRONMENT "GAAPD=$<TARGET_FILE:gaapd>;BENCH_TLSLOAD=$<TARGET_FILE:bench_tlsload>;PYTHONDONTWRITEBYTECODE=1")

# bench/store.c: the state store's durable write and restore (bench/README.md). Built with the
# tests; its smoke run checks that it runs, never a time.
add_executable(bench_store ${PROJECT_SOURCE_DIR}/bench/store.c)
target_link_libraries(bench_store PRIVATE gaap_core gaap_warnings)
set_target_properties(bench_store PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
add_test(NAME bench_store_smoke COMMAND bench_store --smoke --dir ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(bench_store_smoke PROPERTIES LABELS bench TIMEOUT 120)

# bench/rtable.c: the route table's lookup, one route against 1,000 domains x 10 rules
# (bench/README.md). Its smoke run checks that it runs and routes, never a time.
add_executable(bench_rtable ${PROJECT_SOURCE_DIR}/bench/rtable.c)
target_link_libraries(bench_rtable PRIVATE gaap_proxy gaap_warnings)
target_include_directories(bench_rtable PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
set_target_properties(bench_rtable PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
add_test(NAME bench_rtable_smoke COMMAND bench_rtable --smoke)
set_tests_properties(bench_rtable_smoke PROPERTIES LABELS bench TIMEOUT 120)

# bench/health.c: the active health checker's CPU per probe, 1,000 real servers checked every
# second (bench/README.md). Its smoke run (50 targets, 1 s) checks that the probes ran and
# passed, never a time.
add_executable(bench_health ${PROJECT_SOURCE_DIR}/bench/health.c)
target_link_libraries(bench_health PRIVATE gaap_health gaap_warnings)
set_target_properties(bench_health PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
add_test(NAME bench_health_smoke COMMAND bench_health --smoke)
set_tests_properties(bench_health_smoke PROPERTIES LABELS bench TIMEOUT 60)

# bench/health.py --smoke: workload a. against gaapd with and without 100 health-checked
# bindings, 1 s each (Python origin, wrk, bench_health --serve): that it runs, never a time.
add_test(NAME bench_health_py_smoke COMMAND ${PROJECT_SOURCE_DIR}/bench/health.py --smoke)
set_tests_properties(bench_health_py_smoke PROPERTIES LABELS bench TIMEOUT 120
	ENVIRONMENT "GAAPD=$<TARGET_FILE:gaapd>;BENCH_BENCH_HEALTH=$<TARGET_FILE:bench_health>;PYTHONDONTWRITEBYTECODE=1")

# bench/tlsload.c: the TLS load client of bench/run's workloads h-m (full and resumed handshakes,
# keep-alive, idle TLS connections); bench_smoke runs it.
add_executable(bench_tlsload ${PROJECT_SOURCE_DIR}/bench/tlsload.c)
target_link_libraries(bench_tlsload PRIVATE OpenSSL::SSL OpenSSL::Crypto gaap_warnings)
set_target_properties(bench_tlsload PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
