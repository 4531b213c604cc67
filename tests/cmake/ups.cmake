# daemon/upstream: the registry of shared real servers, their health and load, with threads;
# server groups.
gaap_unit_test(test_ups gaap_ups)
