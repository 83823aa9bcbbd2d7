#!/usr/bin/env bash
# `sdv app run` cgroup limits end to end (docs/app-sandbox.md, "Limits of the whole app"): the real
# sdv-broker on a Unix socket in a temporary directory and sdv-app-hog sandboxed in its own
# cgroup. Forked children that together use more than limits.memory_mb are OOM-killed and the
# launcher says so (one child under the limit runs fine); a fork bomb stops at limits.processes
# and leaves nothing behind; a busy loop with cpu_percent 20 gets at most ~25% of a core,
# measured from the cgroup's own usage counter; the limits land in the kernel's files; the
# cgroup is gone after every run, also when the app is killed or the launcher is stopped; a
# limit that cannot be enforced (an unprivileged launcher) stops the launch.
# Needs root (cgroups are not writable otherwise): exit 77 (skip), loudly, when they are not.
# Usage: test_app_cgroup.sh BIN_DIR VSS_JSON
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
bin=$(cd "$1" && pwd)
vss=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: !!! not root: this machine's cgroups are not writable, the cgroup limits cannot be tested"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-app-cgroup.XXXXXX")
chmod 755 "$work"
pids=()
trap sdv_cleanup_work EXIT
PASSED=0
FAILED=0
cd "$work" || exit 1

"$bin/sdv" keygen --type ed25519 --out iss >/dev/null || exit 1
cat >broker.json <<EOF
{"catalog": "$vss", "audience": "vehicle-api", "keys": ["iss.pub.pem"], "socket": "$work/broker.sock"}
EOF
"$bin/sdv-broker" --config broker.json >ready.txt 2>broker.log &
pids+=($!)
sdv_wait_file ready.txt 100 "${pids[-1]}" || { echo "FAIL: sdv-broker did not start: $(cat broker.log)"; exit 1; }

# app ID ARGS_JSON LIMITS_JSON: writes ID.json, a manifest for sdv-app-hog.
app() {
    printf '{"id": "%s", "executable": "%s", "args": %s, "scopes": ["read:Vehicle.Speed"], "limits": %s}\n' \
        "$1" "$bin/sdv-app-hog" "$2" "$3" >"$1.json"
}
# launch MANIFEST [OPTIONS...]: execs the launcher (so that $! of `launch ... &` is its pid).
launch() {
    exec "$bin/sdv" app run --manifest "$1" --broker-socket "$work/broker.sock" --issuer-key iss.pem \
        --aud vehicle-api "${@:2}"
}
# run MANIFEST [OPTIONS...]: output in run.out, status in $rc, the launcher's pid in $lpid.
run() {
    launch "$@" >run.out 2>&1 &
    lpid=$!
    wait $lpid
    rc=$?
}
has() { grep -q -- "$1" run.out; }

# cg_mount CONTROLLER: where the v1 hierarchy holding CONTROLLER is mounted, else the v2 mount.
cg_mount() {
    local mnt
    mnt=$(awk -v c="$1" '{ split($0, a, " - "); split(a[2], r, " "); n = split(r[3], o, ",");
        if (r[1] == "cgroup") for (i = 1; i <= n; i++) if (o[i] == c) { split(a[1], l, " "); print l[5]; exit } }' /proc/self/mountinfo)
    [ -n "$mnt" ] || mnt=$(awk '{ split($0, a, " - "); split(a[2], r, " "); if (r[1] == "cgroup2") { split(a[1], l, " "); print l[5]; exit } }' /proc/self/mountinfo)
    echo "$mnt"
}
# cg_dir PID CONTROLLER: the directory of PID's cgroup in that hierarchy (/proc/PID/cgroup).
cg_dir() {
    local path
    if [ $v2 = 0 ]; then
        path=$(awk -F: -v c="$2" '{ n = split($2, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $3; exit } }' "/proc/$1/cgroup")
    else
        path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
    fi
    echo "$(cg_mount "$2")$path"
}
v2=0
grep -q " - cgroup .*[,]memory" /proc/self/mountinfo || v2=1
# cpu_us DIR: the cgroup's CPU time in microseconds (cpuacct.usage on v1, cpu.stat on v2).
cpu_us() {
    if [ -r "$1/cpuacct.usage" ]; then echo $(($(cat "$1/cpuacct.usage") / 1000)); else awk '$1 == "usage_usec" { print $2 }' "$1/cpu.stat"; fi
}
# leftovers LAUNCHER_PID: the app cgroups of that launcher still present in any hierarchy.
leftovers() { find /sys/fs/cgroup -maxdepth 6 -type d -name "sdv-app.*.$1" 2>/dev/null; }
# init_of LAUNCHER_PID: the sandbox's init (the launcher's only child), waiting up to 2 s.
init_of() {
    local i p
    for i in $(seq 40); do
        p=$(pgrep -P "$1" | head -n 1)
        [ -n "$p" ] && [ -n "$(pgrep -P "$p")" ] && { echo "$p"; return 0; }
        sleep 0.05
    done
    return 1
}

# Can this machine enforce the limits at all?
app cg-probe '["sleep", "10"]' '{"memory_mb": 64, "processes": 8}'
run cg-probe.json
if [ $rc -ne 0 ] && has "cannot be enforced here"; then
    echo "SKIP: !!! cgroups are not writable here, the limits cannot be tested: $(cat run.out)"
    exit 77
fi

# 1. Memory: one 20 MiB child under a 48 MiB limit runs; three of them (60 MiB) do not.
app cg-mem1 '["alloc", "1", "20"]' '{"memory_mb": 48}'
run cg-mem1.json
if [ $rc -eq 0 ] && has "^child 0: done" && ! has "out of memory"; then
    sdv_pass "one process of 20 MiB under memory_mb 48 runs to its end"
else
    sdv_fail "single process under the limit (status $rc)" "$(cat run.out)"
fi
app cg-mem3 '["alloc", "3", "20"]' '{"memory_mb": 48}'
run cg-mem3.json
if [ $rc -eq 1 ] && has "^child [0-2]: killed by signal 9" && has "cg-mem3: out of memory: the kernel's OOM killer ended [1-9]"; then
    sdv_pass "three processes of 20 MiB each (each under RLIMIT_AS) exceed memory_mb 48 together: $(grep 'out of memory' run.out)"
else
    sdv_fail "memory limit of the whole tree (status $rc)" "$(cat run.out)"
fi
[ -z "$(leftovers $lpid)" ] && sdv_pass "the cgroup is gone after an OOM kill" || sdv_fail "cgroup left after the OOM run" "$(leftovers $lpid)"

# A launcher killed with SIGKILL cannot remove its cgroup; the next launch removes such empty
# leftovers of launchers that are gone.
sh -c 'exit 0' &
dead=$!
wait $dead
stale=$(cg_dir $$ memory | sed 's,/$,,')/sdv-app.cg-stale.$dead
mkdir "$stale" && run cg-mem1.json
if [ -n "$stale" ] && [ ! -d "$stale" ]; then sdv_pass "an empty cgroup of a dead launcher is removed"; else sdv_fail "stale cgroup" "$stale still there"; rmdir "$stale"; fi

# 2. A fork bomb stops at limits.processes; nothing of it survives the run.
app cg-bomb '["forkbomb"]' '{"processes": 16}'
run cg-bomb.json --user 4871:4871
if [ $rc -eq 0 ] && has "^forkbomb: 16 processes, then: Resource temporarily unavailable" &&
    has "cg-bomb: reached limits.processes (16): the kernel refused further forks"; then
    sdv_pass "a fork bomb stops at processes 16 (pids.max): $(grep -E "forkbomb|reached" run.out | tr "\n" " ")"
else
    sdv_fail "fork bomb (status $rc)" "$(cat run.out)"
fi
sleep 0.1
if [ -z "$(pgrep -u 4871)" ] && [ -z "$(leftovers $lpid)" ]; then
    sdv_pass "no process of the bomb and no cgroup remain"
else
    sdv_fail "fork bomb leftovers" "$(pgrep -u 4871 -a | head -n 5; leftovers $lpid)"
fi

# 3. The kernel's own settings and counters while an app runs; then the app is killed.
app cg-conf '["sleep", "5000"]' '{"memory_mb": 48, "cpu_percent": 20, "processes": 16}'
launch cg-conf.json >conf.out 2>&1 &
lpid=$!
if init=$(init_of $lpid); then
    mem=$(cg_dir "$init" memory) cpu=$(cg_dir "$init" cpu) pid_dir=$(cg_dir "$init" pids)
    if [ $v2 = 1 ]; then
        conf="$(cat "$mem/memory.max") $(cat "$cpu/cpu.max") $(cat "$pid_dir/pids.max")"
        want="50331648 20000 100000 17"
    else
        conf="$(cat "$mem/memory.limit_in_bytes") $(cat "$cpu/cpu.cfs_quota_us") $(cat "$cpu/cpu.cfs_period_us") $(cat "$pid_dir/pids.max")"
        want="50331648 20000 100000 17"
    fi
    if [[ $mem == */sdv-app.cg-conf.$lpid ]] && [ "$conf" = "$want" ]; then
        sdv_pass "the app's cgroup ${mem##*/} holds memory 48 MiB, CPU 20 ms per 100 ms, 17 tasks (16 + the init)"
    else
        sdv_fail "cgroup settings" "dir $mem: got '$conf', want '$want'"
    fi
    app_pid=$(pgrep -P "$init" | head -n 1)
    members=$(sort -n "$pid_dir/cgroup.procs" | tr '\n' ' ')
    if [ "$members" = "$(printf '%s\n' "$init" "$app_pid" | sort -n | tr '\n' ' ')" ]; then
        sdv_pass "the init and the app, and nothing else, are in the cgroup"
    else
        sdv_fail "cgroup members" "procs: $members; init $init app $app_pid"
    fi
    kill -KILL "$app_pid"
    wait $lpid
    rc=$?
    if [ $rc -eq 137 ] && grep -q "killed by signal 9" conf.out && [ -z "$(leftovers $lpid)" ] && [ ! -d "$mem" ]; then
        sdv_pass "the app killed by SIGKILL: status 137, the cgroup is gone"
    else
        sdv_fail "kill the app (status $rc)" "$(cat conf.out; leftovers $lpid)"
    fi
else
    sdv_fail "the sandbox did not start" "$(cat conf.out)"
    wait $lpid
fi

# 4. CPU: cpu_percent 20 holds a busy loop to ~20% of a core, by the cgroup's usage counter over
# one second; without it the same loop gets far more (so the measurement can fail).
# spin_share MANIFEST: prints the loop's CPU share in percent.
spin_share() {
    local l init dir u0 u1 t0 t1
    launch "$1" >spin.out 2>&1 &
    l=$!
    init=$(init_of $l) || { echo "no-init"; wait $l; return; }
    dir=$(cg_dir "$init" cpuacct)
    [ $v2 = 1 ] && dir=$(cg_dir "$init" cpu)
    sleep 0.2
    u0=$(cpu_us "$dir") t0=$(date +%s%N)
    sleep 1
    u1=$(cpu_us "$dir") t1=$(date +%s%N)
    wait $l
    echo $(((u1 - u0) * 100000 / ((t1 - t0) / 1000) / 1000))
}
app cg-spin20 '["spin", "1800"]' '{"cpu_percent": 20}'
app cg-spinfree '["spin", "1800"]' '{"memory_mb": 64}'
limited=$(spin_share cg-spin20.json)
free=$(spin_share cg-spinfree.json)
if [[ $limited =~ ^[0-9]+$ ]] && [ "$limited" -le 25 ] && [ "$limited" -ge 5 ]; then
    sdv_pass "cpu_percent 20: the busy loop used $limited% of a core (cgroup usage counter, 1 s)"
else
    sdv_fail "cpu_percent 20" "share $limited% (5..25 expected); $(cat spin.out)"
fi
if [[ $free =~ ^[0-9]+$ ]] && [ "$free" -ge 30 ]; then
    sdv_pass "without cpu_percent the same loop used $free% of a core"
else
    sdv_fail "unlimited busy loop (machine too busy?)" "share $free%"
fi

# 5. SIGTERM to the launcher: the app ends, the cgroup goes.
app cg-term '["sleep", "5000"]' '{"memory_mb": 32}'
launch cg-term.json >term.out 2>&1 &
lpid=$!
init_of $lpid >/dev/null
kill -TERM $lpid
wait $lpid
rc=$?
if [ $rc -eq 143 ] && [ -z "$(leftovers $lpid)" ]; then
    sdv_pass "SIGTERM to the launcher: status 143, the cgroup is gone"
else
    sdv_fail "SIGTERM (status $rc)" "$(cat term.out; leftovers $lpid)"
fi

# 6. --cgroup-parent: the app's cgroup goes below a cgroup of our choosing.
parent=/sdv-test-$$
launch cg-conf.json --cgroup-parent $parent >parent.out 2>&1 &
lpid=$!
want=$(cg_mount memory)$parent/sdv-app.cg-conf.$lpid
if init=$(init_of $lpid) && [ "$(cg_dir "$init" memory)" = "$want" ] && [ "$(cat "$want/memory.limit_in_bytes" "$want/memory.max" 2>/dev/null)" = 50331648 ]; then
    sdv_pass "--cgroup-parent $parent: the app's cgroup is $want"
else
    sdv_fail "--cgroup-parent" "$(cg_dir "${init:-$lpid}" memory), want $want; $(cat parent.out)"
fi
kill -TERM $lpid
wait $lpid
find /sys/fs/cgroup -maxdepth 3 -type d -name "${parent#/}" -exec rmdir {} + 2>/dev/null

# 7. A limit that cannot be enforced stops the launch: an unprivileged launcher cannot create
# cgroups. (Without cgroup limits it runs: tests/app_sandbox covers that.)
if command -v setpriv >/dev/null; then
    mkdir -p nr && cp "$bin/sdv" "$bin/sdv-app-hog" iss.pem nr/ && chmod 755 nr && chmod 644 nr/iss.pem
    chmod 666 broker.sock
    printf '{"id": "cg-nr", "executable": "sdv-app-hog", "args": ["spin", "100"], "scopes": ["read:Vehicle.Speed"], "limits": {"memory_mb": 64}}\n' >nr/nr.json
    (cd nr && setpriv --reuid=65534 --regid=65534 --clear-groups ./sdv app run --manifest nr.json \
        --broker-socket "$work/broker.sock" --issuer-key iss.pem --aud vehicle-api >../run.out 2>&1)
    rc=$?
    if [ $rc -eq 125 ] && has "limits.memory_mb cannot be enforced here" && has "refusing to run"; then
        sdv_pass "unenforceable memory_mb refused before the app runs: $(head -n 1 run.out)"
    else
        sdv_fail "unenforceable limit (status $rc)" "$(cat run.out)"
    fi
fi

# 8. Bad limits in the manifest.
bad() {
    printf '%s\n' "$2" >bad.json
    run bad.json
    if [ $rc -eq 125 ] && has "$1"; then sdv_pass "bad manifest: $(head -n 1 run.out)"; else sdv_fail "bad manifest ($1, status $rc)" "$(cat run.out)"; fi
}
exe="\"executable\": \"$bin/sdv-app-hog\", \"scopes\": [\"read:Vehicle.Speed\"]"
bad "limits.cpu_percent: must be a whole number 1..6400" "{\"id\": \"x\", $exe, \"limits\": {\"cpu_percent\": 0}}"
bad "limits.cpu_percent: must be a whole number 1..6400" "{\"id\": \"x\", $exe, \"limits\": {\"cpu_percent\": 12.5}}"
bad "limits.processes: must be a whole number 1..65536" "{\"id\": \"x\", $exe, \"limits\": {\"processes\": 0}}"

# 9. cgroup v2: this machine may be v1-hybrid (controllers on v1 mounts, an empty unified tree);
# in a mount namespace that sees only the unified hierarchy at /sys/fs/cgroup the launcher must
# find it there, put the app's tree in a cgroup of its own (cgroup.kill at the end) and refuse
# limits whose controllers that tree does not offer.
v2mnt=$(awk '{ split($0, a, " - "); split(a[2], r, " "); if (r[1] == "cgroup2") { split(a[1], l, " "); print l[5]; exit } }' /proc/self/mountinfo)
if [ $v2 = 0 ] && [ -n "$v2mnt" ] && command -v unshare >/dev/null; then
    app cg-v2 '["sleep", "600"]' '{"cpu_s": 5}'
    app cg-v2mem '["sleep", "10"]' '{"memory_mb": 64}'
    cat >v2.sh <<EOF
umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || { echo "v2-setup-failed"; exit 0; }
"$bin/sdv" app run --manifest cg-v2.json --broker-socket "$work/broker.sock" --issuer-key iss.pem --aud vehicle-api &
l=\$!
for i in \$(seq 40); do [ "\$(wc -l </sys/fs/cgroup/sdv-app.cg-v2.\$l/cgroup.procs 2>/dev/null)" = 2 ] && break; sleep 0.05; done
echo "procs \$(wc -l </sys/fs/cgroup/sdv-app.cg-v2.\$l/cgroup.procs)"
wait \$l
echo "status \$?"
[ -d /sys/fs/cgroup/sdv-app.cg-v2.\$l ] && echo "v2-left" || echo "v2-gone"
"$bin/sdv" app run --manifest cg-v2mem.json --broker-socket "$work/broker.sock" --issuer-key iss.pem --aud vehicle-api
echo "status \$?"
EOF
    unshare -m bash v2.sh >run.out 2>&1
    if has "^v2-setup-failed"; then
        echo "SKIP (part): !!! cannot mount the unified hierarchy alone here: $(cat run.out)"
    elif has "^procs 2$" && has "^status 0$" && has "^v2-gone$" && has "^status 125$" &&
        has "limits.memory_mb cannot be enforced here: no cgroup hierarchy offers the memory controller"; then
        sdv_pass "cgroup v2 alone: the app's tree (init and app) in its own cgroup, removed after the run; memory_mb refused without a memory controller"
    else
        sdv_fail "cgroup v2" "$(cat run.out)"
    fi
fi

if ! kill -0 "${pids[0]}" 2>/dev/null; then sdv_fail "sdv-broker died" "$(tail -n 5 broker.log)"; fi
echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ]
