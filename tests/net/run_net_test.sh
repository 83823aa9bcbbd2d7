#!/usr/bin/env bash
# run_net_test.sh TEST_BINARY PYTHON3: starts net_test_server.py on 127.0.0.1, runs the cmocka
# test binary with the server's base URL, stops the server.
set -euo pipefail
test_bin=$1 python=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-net-XXXXXX")
"$python" "$(dirname "$0")/net_test_server.py" "$work/port" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "net_test_server.py did not start"; exit 1; }
"$test_bin" "http://127.0.0.1:$(cat "$work/port")/" "$work"
