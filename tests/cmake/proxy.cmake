# (filled by the proxy work)
gaap_e2e_test(test_proxy)
gaap_e2e_test(test_websocket)
# Layer-7 routing built through the API: Host and path to rules, schedulers, headers, DNS names.
gaap_e2e_test(test_routing)
# Active health checks of rules (issue 14): probes, verdicts, the API status, metrics.
gaap_e2e_test(test_health)
