# gaapd - the two commands a new user needs, and the few a developer does.
#   make run    install build dependencies, build, run gaapd on conf/gaapd.yaml (foreground)
#   make test   install build dependencies, build, run the whole suite (normal and ASan+UBSan builds)

BUILD      ?= build
ASAN_BUILD ?= build-asan
CONF       ?= conf/gaapd.yaml
JOBS       ?= $(shell nproc)
CTEST_ARGS ?= --output-on-failure -j$(JOBS)

# Warnings stop the build in the test builds only (CMake's GAAPD_WERROR); not for a plain build.
WERROR     ?= OFF
test test-build test-asan: WERROR = ON

MAKEFLAGS += --no-print-directory

.PHONY: all deps deps-test build build-asan run test test-build test-asan install clean

all: build

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAAPD_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Asan -DGAAPD_WERROR=$(WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	exec $(BUILD)/gaapd -c $(CONF)

test-build: deps-test build
	cd $(BUILD) && ctest $(CTEST_ARGS)

test-asan: deps-test build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

test: test-build test-asan

# Installs into /usr (binaries), /etc/gaapd (configuration, kept when present), the systemd
# unit, sysusers and tmpfiles entries. PREFIX and DESTDIR as usual.
PREFIX ?= /usr
install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
