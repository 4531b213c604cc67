# daemon/etcd: the etcd client against real etcd (Debian's etcd-server), one member started by
# the test on free loopback ports (tests/unit/etcd_harness.c), and a 3-member cluster for
# failover.
gaap_unit_test(test_etcd gaap_etcd)
target_sources(test_etcd PRIVATE unit/etcd_harness.c)
set_tests_properties(test_etcd PROPERTIES LABELS "unit;etcd")
# tests/e2e/etcd.py, the Python harness the fleet's end-to-end tests will use: a member's restart
# and a cluster's leader failure.
gaap_e2e_test(test_etcd_harness)
set_tests_properties(e2e_test_etcd_harness PROPERTIES LABELS "e2e;etcd")
# daemon/store_etcd*.c: the etcd back end of the state store, two nodes on one real etcd.
gaap_unit_test(test_store_etcd gaap_core)
target_sources(test_store_etcd PRIVATE unit/etcd_harness.c)
set_tests_properties(test_store_etcd PROPERTIES LABELS "unit;etcd")
