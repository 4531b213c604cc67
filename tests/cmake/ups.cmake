# daemon/upstream: the registry of shared real servers, their health and load, with threads;
# server groups.
gaap_unit_test(test_ups gaap_ups)
# Connecting without a client, against real sockets on 127.0.0.1.
gaap_unit_test(test_ups_connect gaap_ups)
# Resolving real servers' DNS names with the machine's resolver (/etc/hosts, resolv.conf).
gaap_unit_test(test_ups_dns gaap_ups)
