# (filled by the wire work)
# control/: query and form decoding, flattened params as JSON, message languages.
gaap_unit_test(test_api_wire gaap_control)
# control/: how much of a body the head admits, and the answer to one over it.
gaap_unit_test(test_api_body gaap_control)
# End-to-end: every request style of spec 1.1 (TC3 and v1), the common errors, languages, limits.
gaap_e2e_test(test_wire)
# End-to-end: the control port under abuse (memory, deadlines, connections, descriptors).
gaap_e2e_test(test_ctl_limits)
