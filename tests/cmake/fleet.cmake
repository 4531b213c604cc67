# Fleets (issue 16): three gaapd nodes on 127.0.0.1/.2/.3 sharing their state through a real etcd
# (tests/e2e/fleet.py starts it; skipped only when etcd is not installed).
gaap_e2e_test(test_fleet)
set_tests_properties(e2e_test_fleet PROPERTIES LABELS "e2e;etcd;fleet")
