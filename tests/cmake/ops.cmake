# Operations: the metrics rendering and the data plane's counters; notify, reload, drain, log
# reopen, metrics and the unit file end to end.
gaap_unit_test(test_metrics gaap_control)
gaap_unit_test(test_metrics_px gaap_proxy)
gaap_e2e_test(test_ops)
# slow_append: preloaded into gaapd by test_ops' log reopen under load, to widen the window a
# reopen race needs (tests/e2e/slow_append.c).
add_library(slow_append MODULE e2e/slow_append.c)
target_link_libraries(slow_append PRIVATE ${CMAKE_DL_LIBS} gaap_warnings)
set_property(TEST e2e_test_ops APPEND PROPERTY ENVIRONMENT "SLOW_APPEND=$<TARGET_FILE:slow_append>")
# The event log and access log: escaping and flood control end to end.
gaap_e2e_test(test_log)
