# The listener lifecycle: every action of control/act_listener.c and act_proxy.c, end to end.
gaap_e2e_test(test_actions)
