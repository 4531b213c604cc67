# The test list, one fragment per module family (each names its executables and e2e scripts).
foreach(part cfg sign ups health px core control e2e wire actions proxy sdk bench ops build etcd fleet)
	include(${CMAKE_CURRENT_SOURCE_DIR}/cmake/${part}.cmake)
endforeach()
