#!/usr/bin/env bash
# run_agent_resume.sh SDV_AGENT AGENT_FLEET_GEN PYTHON3: kill -9 of sdv-agent during a throttled
# image download, then a restart: the download resumes from the partial file's size (the
# server's log shows a Range request from there), the image verifies and is installed.
set -euo pipefail
agent=$1 gen=$2 python=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-agent-resume-XXXXXX")
srv_pid= agent_pid=
cleanup() {
    [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null || true
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

size=$((4 * 1024 * 1024))
# 1 MiB/s: the whole image takes about 4 s, so the kill lands mid-way.
"$python" "$here/agent_test_server.py" "$work" "$work/port" "$work/range.log" 1048576 &
srv_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "server did not start"; exit 1; }
"$gen" "$work" "$size" "http://127.0.0.1:$(cat "$work/port")"

"$agent" --config "$work/agent.json" once >"$work/agent1.log" 2>&1 &
agent_pid=$!
part=
for _ in $(seq 200); do
    part=$(ls "$work"/state/downloads/*.part 2>/dev/null | head -1 || true)
    if [ -n "$part" ] && [ "$(stat -c %s "$part")" -gt 1000000 ]; then break; fi
    sleep 0.05
done
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=
[ -n "$part" ] || { echo "no partial download"; cat "$work/agent1.log"; exit 1; }
partial=$(stat -c %s "$part")
echo "killed with $partial of $size bytes"
[ "$partial" -gt 0 ] && [ "$partial" -lt "$size" ] || { echo "kill did not land mid-download"; exit 1; }
[ ! -e "$work/state/slots/ecu-main" ] || { echo "installed before the download finished"; exit 1; }

if ! "$agent" --config "$work/agent.json" once >"$work/agent2.log" 2>&1; then
    echo "second run failed"; cat "$work/agent2.log"; exit 1
fi
cat "$work/range.log"
# The restart asked for the rest of the file, from at least where the kill left it.
resumed=$(sed -n 's/^GET .* bytes=\([0-9]*\)-$/\1/p' "$work/range.log" | tail -1)
[ -n "$resumed" ] && [ "$resumed" -ge "$partial" ] || { echo "no resume from $partial"; exit 1; }
cmp "$work/image.bin" "$work/state/slots/ecu-main"
ls "$work"/manifest-*.json >/dev/null
grep -q '"filepath":"main/fw-1.bin"' "$(ls -t "$work"/manifest-*.json | head -1)"
echo "resumed from byte $resumed; image verified and installed"
