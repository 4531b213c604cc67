# daemon/etcd: the etcd client against real etcd (Debian's etcd-server), one member started by
# the test on free loopback ports (tests/unit/etcd_harness.c), and a 3-member cluster for
# failover.
gaap_unit_test(test_etcd gaap_etcd)
target_sources(test_etcd PRIVATE unit/etcd_harness.c)
set_tests_properties(test_etcd PROPERTIES LABELS "unit;etcd")
