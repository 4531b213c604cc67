# daemon/health: the active health checker: verdicts on their own, then real probes from its own
# thread against tiny origins on 127.0.0.1.
gaap_unit_test(test_hc gaap_health)
