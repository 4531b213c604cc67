# daemon/: the state store.
gaap_unit_test(test_store gaap_core)
