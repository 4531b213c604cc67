# daemon/: the state store.
gaap_unit_test(test_store gaap_core)
# daemon/state/: the state machine, over the real store, table, workers and sockets.
gaap_unit_test(test_sm gaap_core)
target_sources(test_sm PRIVATE unit/test_files.c)
# daemon/state/rs.c: real server addresses and the set's indexes.
gaap_unit_test(test_rs gaap_core)
# daemon/state/l7.c: the layer-7 set's indexes, lists and counts; its schemas.
gaap_unit_test(test_l7 gaap_core)
# daemon/log.c: the event log's reopen.
gaap_unit_test(test_log gaap_log)
# daemon/util.c: UTF-8 validity and whole writes.
gaap_unit_test(test_util gaap_util)
# daemon/state/: the journal (the store's engine).
gaap_unit_test(test_journal gaap_state)
