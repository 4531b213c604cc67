# A packager's build: the Release type (-O3, where GCC's flow analysis differs) configured and
# built from scratch with -Werror, so a warning that only optimised builds see cannot come back.
# Only in the non-sanitizer suite: one such build per make test is enough.
if(NOT CMAKE_BUILD_TYPE STREQUAL "Asan")
	add_test(NAME build_release COMMAND ${PROJECT_SOURCE_DIR}/tests/build_release.sh
		${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/release-check)
	set_tests_properties(build_release PROPERTIES LABELS build TIMEOUT 600)
endif()
