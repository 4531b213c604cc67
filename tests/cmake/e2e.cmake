# End-to-end: the real gaapd and gaapctl on loopback (tests/e2e/harness.py).
gaap_e2e_test(test_config)
gaap_e2e_test(test_api)
gaap_e2e_test(test_create)
