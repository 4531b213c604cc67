# control/: parameter schemas, listener names, ids and RequestIds.
gaap_unit_test(test_params gaap_control)
# control/replay.c: the v1 replay tables, one per SecretId.
gaap_unit_test(test_replay gaap_control)
