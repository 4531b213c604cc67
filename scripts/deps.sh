#!/bin/sh
# Install the Debian packages gaapd needs to build and test, if any is missing.
# Idempotent and quiet when everything is present; uses sudo when not root.
set -eu

PACKAGES="gcc make cmake pkg-config libevent-dev node-llhttp libssl-dev libyaml-dev
libjansson-dev libcmocka-dev python3"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
