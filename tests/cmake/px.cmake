# daemon/proxy: head rebuild, feed() at every split, schedulers and health, and a real in-process
# relay.
gaap_unit_test(test_px_head gaap_proxy)
gaap_unit_test(test_px_feed gaap_proxy)
gaap_unit_test(test_px_route gaap_proxy)
gaap_unit_test(test_px_relay gaap_proxy)
