# End-to-end: the real gaapd and gaapctl on loopback (tests/e2e/harness.py).
gaap_e2e_test(test_config)
gaap_e2e_test(test_api)
gaap_e2e_test(test_realservers)
gaap_e2e_test(test_l7_api)
# Certificates and HTTPS listeners through the API (l7-and-https.md §6-8), certificates from openssl.
gaap_e2e_test(test_https_api)
# HTTPS traffic (issue 15): handshakes, SNI, mTLS, versions, resumption, certificate swaps under load,
# HTTPS origins, handshake timeouts; certificates made by the openssl CLI; gaapctl's README session.
gaap_e2e_test(test_https)
gaap_e2e_test(test_create)
# End-to-end: strict requests (issue 17): repeated headers the API reads, ListenerName characters.
gaap_e2e_test(test_strict)
