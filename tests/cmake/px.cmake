# daemon/proxy: head rebuild, feed() at every split, schedulers and health, and a real in-process
# relay.
gaap_unit_test(test_px_head gaap_proxy)
gaap_unit_test(test_px_feed gaap_proxy)
gaap_unit_test(test_px_route gaap_proxy)
gaap_unit_test(test_px_relay gaap_proxy)
# daemon/proxy/rtable.c: the route table, Host -> domain and path -> rule (spec 9.2, 9.3).
gaap_unit_test(test_px_rtable gaap_proxy)
# daemon/proxy/l7.c: layer-7 routing built from px_l7_in, its cell, and real traffic by Host/path.
gaap_unit_test(test_px_l7 gaap_proxy)
# daemon/tls and daemon/proxy/tx.c: real handshakes on loopback (SNI, versions, mTLS, resumption)
# and HTTPS proxied through a px_worker (certificates made by the openssl CLI).
gaap_unit_test(test_tls gaap_proxy)
target_sources(test_tls PRIVATE unit/test_files.c)
# daemon/tls/cert.c: CreateCertificate's checks and the names a certificate covers (certificates
# made by the openssl CLI: RSA 2048, ECDSA P-256, RSA 1024, chains, wrong and encrypted keys).
gaap_unit_test(test_tls_cert gaap_tls)
target_sources(test_tls_cert PRIVATE unit/test_files.c)
