# control/: parameter schemas, listener names, ids and RequestIds.
gaap_unit_test(test_params gaap_control)
