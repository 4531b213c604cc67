#!/usr/bin/env bash
# scripts/fleet-demo.sh - a local three-node fleet (README.md: Fleets): one etcd and three gaapd
# nodes A, B, C on 127.0.0.1, 127.0.0.2 and 127.0.0.3, one proxy bound on each node's own address.
# A listener created on A is served by B and C; deleted on B, it is gone everywhere.
#
# Everything runs from a temporary directory, on loopback only, bounded in time (DEMO_TIMEOUT
# seconds in all); what the script started is stopped by its PID on every exit, and the directory
# removed (KEEP=1 keeps it, with the logs).
# Needs: build/gaapd and build/gaapctl (make), Debian's etcd-server (etcd), python3, curl.
# Overrides: BUILD, ETCD_BIN, ETCD_PORT (23790), CTL_PORT (9781), PORT (18081), ORIGIN_PORT
# (18080), DEMO_TIMEOUT (90).
set -euo pipefail

# The whole run is bounded: past DEMO_TIMEOUT, timeout sends this script TERM (its trap stops
# everything it started), then KILL 15 s later. --foreground: Ctrl-C still reaches it.
if [ -z "${FLEET_DEMO_BOUNDED:-}" ]; then
	FLEET_DEMO_BOUNDED=1 exec timeout --foreground -k 15 "${DEMO_TIMEOUT:-90}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
GAAPD=$BUILD/gaapd
GAAPCTL=$BUILD/gaapctl
ETCD_BIN=${ETCD_BIN:-etcd}
ETCD_PORT=${ETCD_PORT:-23790}
ETCD_PEER=$((ETCD_PORT + 10))
CTL_PORT=${CTL_PORT:-9781}
PORT=${PORT:-18081}
ORIGIN_PORT=${ORIGIN_PORT:-18080}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-90}
PROXY=link-fleetdemo
NODES=(a b c)
declare -A ADDR=([a]=127.0.0.1 [b]=127.0.0.2 [c]=127.0.0.3)

for bin in "$GAAPD" "$GAAPCTL"; do
	[ -x "$bin" ] || { echo "fleet-demo: $bin missing: run make first" >&2; exit 2; }
done
for cmd in "$ETCD_BIN" python3 curl; do
	command -v "$cmd" >/dev/null || { echo "fleet-demo: $cmd missing (apt-get install" \
		"etcd-server python3 curl)" >&2; exit 2; }
done

DIR=$(mktemp -d /tmp/gaapd-fleet-demo.XXXXXX)
PIDS=()             # what this script started, stopped in reverse order by cleanup()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_pid() {        # TERM, up to 5 s, then KILL: only the PIDs this script started
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	wait 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo "fleet-demo: failed (rc=$rc); the logs' last lines:" >&2
		for f in "$DIR"/*.log; do
			[ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
		done
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "fleet-demo: kept $DIR"
	else
		rm -rf "$DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'echo "fleet-demo: stopped (TERM; DEMO_TIMEOUT=$DEMO_TIMEOUT s?)" >&2; exit 143' TERM

# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

ctl() {             # ctl NODE ACTION [--Param value ...]: gaapctl against that node
	local node=$1
	shift
	timeout 10 "$GAAPCTL" --endpoint "${ADDR[$node]}:$CTL_PORT" \
		--credentials "$DIR/credentials" "$@"
}

say "etcd on 127.0.0.1:$ETCD_PORT (data in $DIR/etcd)"
"$ETCD_BIN" --name demo --data-dir "$DIR/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	--initial-cluster "demo=http://127.0.0.1:$ETCD_PEER" >"$DIR/etcd.log" 2>&1 &
PIDS+=($!)
wait_for 20 curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" ||
	{ echo "fleet-demo: etcd not healthy within 20 s" >&2; exit 1; }

say "an origin on 127.0.0.1:$ORIGIN_PORT (python3 -m http.server)"
mkdir -p "$DIR/www"
echo "hello from the origin" >"$DIR/www/index.html"
python3 -m http.server "$ORIGIN_PORT" --bind 127.0.0.1 --directory "$DIR/www" \
	>"$DIR/origin.log" 2>&1 &
PIDS+=($!)
wait_for 10 curl -fsS --max-time 1 "http://127.0.0.1:$ORIGIN_PORT/"

# One node's configuration: its own name, control address, state and bind address; the same
# proxy id, etcd and prefix as the others; one credentials file for the demo's gaapctl.
node_config() {
	local node=$1 addr=${ADDR[$1]}
	cat <<EOF
node:
  name: node-$node
  workers: 1
  state_dir: $DIR/state-$node
control:
  listen: $addr:$CTL_PORT
  auth: signature
  credentials_file: $DIR/credentials
store:
  backend: etcd
  etcd:
    endpoints: [http://127.0.0.1:$ETCD_PORT]
    prefix: /gaapd-demo
proxies:
  - id: $PROXY
    bind: $addr
    max_listeners: 10
    origins: [127.0.0.1:$ORIGIN_PORT]
EOF
}

up() {              # up PID NODE: the node answers, or its process is gone (stop waiting)
	! kill -0 "$1" 2>/dev/null || ctl "$2" DescribeProxies
}

for node in "${NODES[@]}"; do
	say "gaapd node $node on ${ADDR[$node]} (control ${ADDR[$node]}:$CTL_PORT)"
	node_config "$node" >"$DIR/$node.yaml"
	"$GAAPD" -c "$DIR/$node.yaml" >"$DIR/$node.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	# the first node writes the credentials file the others and gaapctl read
	wait_for 20 up "$pid" "$node" ||
		{ echo "fleet-demo: node $node did not answer within 20 s" >&2; exit 1; }
	kill -0 "$pid" 2>/dev/null ||
		{ echo "fleet-demo: node $node exited: see its log below" >&2; exit 1; }
done

say "CreateHTTPListener on node a, port $PORT"
ID=$(ctl a CreateHTTPListener --ProxyId "$PROXY" --ListenerName demo --Port "$PORT" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["Response"]["ListenerId"])')
echo "ListenerId $ID"

for node in "${NODES[@]}"; do
	url="http://${ADDR[$node]}:$PORT/"
	start=$(date +%s%N)
	wait_for 10 curl -fsS --max-time 1 "$url" ||
		{ echo "fleet-demo: node $node does not serve $url" >&2; exit 1; }
	echo "node $node serves $url after $((($(date +%s%N) - start) / 1000000)) ms:" \
		"$(curl -sS --max-time 2 "$url")"
done

say "DescribeHTTPListeners on node c (ListenerStatus 0 once every node reported it bound)"
status_zero() {
	ctl c DescribeHTTPListeners --ListenerId "$ID" | grep -q '"ListenerStatus": 0'
}
wait_for 10 status_zero || echo "(still 1: not every node has reported it bound yet)"
ctl c DescribeHTTPListeners --ListenerId "$ID"

say "DeleteListeners on node b"
ctl b DeleteListeners --ProxyId "$PROXY" --ListenerIds "$ID" --Force 1

gone() {            # gone NODE: the port refuses and the node's Describe has no listener
	! curl -sS --max-time 1 "http://${ADDR[$1]}:$PORT/" >/dev/null 2>&1 &&
		ctl "$1" DescribeHTTPListeners --ProxyId "$PROXY" | grep -q '"TotalCount": 0'
}
for node in "${NODES[@]}"; do
	wait_for 10 gone "$node" ||
		{ echo "fleet-demo: node $node still has the listener" >&2; exit 1; }
	echo "node $node: port $PORT closed, DescribeHTTPListeners TotalCount 0"
done

say "done: stopping etcd, the origin and the three nodes by PID"
