# The listener lifecycle: every action of control/act_listener.c and act_proxy.c, end to end.
gaap_e2e_test(test_actions)
# slow_sync: preloaded into gaapd by test_actions' group commit test: slow fdatasyncs, counted
# from outside (tests/e2e/slow_sync.c).
add_library(slow_sync MODULE e2e/slow_sync.c)
target_link_libraries(slow_sync PRIVATE ${CMAKE_DL_LIBS} gaap_warnings)
set_property(TEST e2e_test_actions APPEND PROPERTY ENVIRONMENT "SLOW_SYNC=$<TARGET_FILE:slow_sync>")
