# Request model, TC3/v1 signatures (against the spec's vectors) and the credentials file.
gaap_unit_test(test_sign gaap_sign PkgConfig::JANSSON)
gaap_unit_test(test_creds gaap_sign)
