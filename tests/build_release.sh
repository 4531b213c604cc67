#!/bin/sh
# Configures and builds SOURCE as a packager would (Release) into BINARY, warnings as errors.
set -eu
src=$1 bin=$2
rm -rf "$bin"
cmake -S "$src" -B "$bin" -DCMAKE_BUILD_TYPE=Release -DGAAPD_WERROR=ON >/dev/null
cmake --build "$bin" -j2 --target gaapd gaapctl
echo "Release build of gaapd and gaapctl: no warnings"
