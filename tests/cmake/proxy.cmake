# (filled by the proxy work)
gaap_e2e_test(test_proxy)
gaap_e2e_test(test_websocket)
