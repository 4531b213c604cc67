#!/bin/sh
# Install the Debian packages gaapd needs, if any is missing: to build (no argument), or to build
# and run the tests (`deps.sh test`). Idempotent and quiet when everything is present; uses sudo
# when not root.
set -eu

PACKAGES="gcc make cmake pkg-config libevent-dev node-llhttp libssl-dev libyaml-dev
libjansson-dev libsystemd-dev libcmocka-dev libunistring-dev"
# python3 (e2e), nodejs (the SDK tests), wrk (bench smoke),
# systemd (systemd-analyze verify of the unit), etcd-server (the etcd client's tests start real
# etcd members on loopback)
TEST_PACKAGES="python3 nodejs wrk systemd etcd-server"
[ "${1:-}" = test ] && PACKAGES="$PACKAGES $TEST_PACKAGES"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
# npm (the SDK tests' setup, tests/sdk) comes with some builds of nodejs (NodeSource's) and is its
# own package in Debian's; ask for it only when the command is absent.
[ "${1:-}" != test ] || command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
