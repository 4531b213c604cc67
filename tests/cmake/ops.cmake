# Operations: the metrics rendering and the data plane's counters; notify, reload, drain, log
# reopen, metrics and the unit file end to end.
gaap_unit_test(test_metrics gaap_control)
gaap_unit_test(test_metrics_px gaap_proxy)
gaap_e2e_test(test_ops)
# The event log and access log: escaping and flood control end to end.
gaap_e2e_test(test_log)
