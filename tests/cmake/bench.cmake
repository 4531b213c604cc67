# bench/run --smoke: every bench workload for about a second against gaapd (Python origin, wrk),
# so the bench scripts never rot. Checks that they run, never how fast (bench/README.md).
add_test(NAME bench_smoke COMMAND ${PROJECT_SOURCE_DIR}/bench/run --smoke)
set_tests_properties(bench_smoke PROPERTIES LABELS bench TIMEOUT 120
	ENVIRONMENT "GAAPD=$<TARGET_FILE:gaapd>;PYTHONDONTWRITEBYTECODE=1")
