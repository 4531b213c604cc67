# daemon/cfg.c: gaapd.yaml parsing, defaults, errors with file:line:col, the shipped conf/gaapd.yaml.
gaap_unit_test(test_cfg gaap_core)
