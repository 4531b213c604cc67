#!/bin/sh
# tests/sdk/install.sh - setup of the SDK tests (CTest fixture "sdk", tests/cmake/sdk.cmake): install
# the Node packages pinned in package-lock.json with `npm ci`, unless node_modules already holds
# exactly that lock. Fails, saying why, when node or npm is missing. Build trees share this
# directory, so concurrent runs are serialized with flock(1) when it is there.
set -eu
cd "$(dirname "$0")"
for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "sdk: '$tool' not found: the SDK tests need Node.js with npm" \
			"(scripts/deps.sh installs Debian's nodejs)" >&2
		exit 1
	fi
done
if [ -z "${SDK_INSTALL_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	SDK_INSTALL_LOCKED=1 exec flock -w 600 . sh "$0" "$@"
fi
stamp=node_modules/.gaapd-package-lock.json   # the lock node_modules was installed from
if cmp -s package-lock.json "$stamp"; then
	echo "sdk: node_modules matches package-lock.json (node $(node --version))"
	exit 0
fi
npm ci --no-audit --no-fund
cp package-lock.json "$stamp"
echo "sdk: installed from package-lock.json (node $(node --version), npm $(npm --version))"
