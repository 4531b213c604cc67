# The official Node.js SDK (tencentcloud-sdk-nodejs, pinned in tests/sdk/package-lock.json) driving
# the real gaapd on loopback: every action, in every request style the SDK has (TC3 POST JSON and
# GET query, v1 HmacSHA1/HmacSHA256 GET query and POST form), success and each error path.
# sdk_install (the "sdk" fixture) runs `npm ci` in tests/sdk when node_modules does not match the lock.
set(GAAP_SDK_DIR ${CMAKE_CURRENT_SOURCE_DIR}/sdk)
find_program(GAAP_NODE NAMES node nodejs)
if(GAAP_NODE)
	set(gaap_node ${GAAP_NODE})
else()
	set(gaap_node sh -c
		"echo 'sdk: node not found: install Node.js (scripts/deps.sh), then re-run cmake' >&2 && false")
endif()
add_test(NAME sdk_install COMMAND sh ${GAAP_SDK_DIR}/install.sh)
set_tests_properties(sdk_install PROPERTIES FIXTURES_SETUP sdk LABELS e2e TIMEOUT 600)
foreach(part listeners proxies realservers l7 https common)
	add_test(NAME sdk_${part} COMMAND ${gaap_node} --test --test-reporter=spec test_${part}.js
		WORKING_DIRECTORY ${GAAP_SDK_DIR})
	set_tests_properties(sdk_${part} PROPERTIES FIXTURES_REQUIRED sdk LABELS e2e TIMEOUT 300
		ENVIRONMENT "GAAPD=$<TARGET_FILE:gaapd>")
endforeach()
