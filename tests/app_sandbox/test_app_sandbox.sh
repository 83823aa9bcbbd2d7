#!/usr/bin/env bash
# `sdv app run` end to end (issue 6, docs/app-sandbox.md): the real sdv-broker on a Unix socket in
# a temporary directory, the simulated vehicle (sdv-vehicle-sim) providing speed and cabin HVAC,
# and sdv-app-probe run sandboxed: it reads within its manifest's scopes, is refused (403)
# outside them, and every escape it tries (sockets, the network, the broker's socket path, another
# app's data, other processes, ptrace, mount, namespaces) fails; bad manifests are refused with
# the member named; the token carries exactly the manifest's grants and expires; a forbidden
# system call kills the app; a non-root launcher falls back to a user namespace.
# Exit 77 (skip) only when this kernel cannot create the namespaces at all.
# Usage: test_app_sandbox.sh BIN_DIR VSS_JSON
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
bin=$(cd "$1" && pwd)
vss=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-app-sandbox.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
PASSED=0
FAILED=0
cd "$work" || exit 1
SPEED=Vehicle.Speed
TEMP=Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature
SOC=Vehicle.Powertrain.TractionBattery.StateOfCharge.Current

"$bin/sdv" keygen --type ed25519 --out iss >/dev/null || exit 1
cat >broker.json <<EOF
{"catalog": "$vss", "audience": "vehicle-api", "keys": ["iss.pub.pem"],
 "socket": "$work/broker.sock", "token_leeway_s": 0, "audit_log": "audit.log",
 "purposes": {"speed-only": {"expires": "2099-01-01T00:00:00Z", "grants": ["read:Vehicle.Speed"]}}}
EOF
"$bin/sdv-broker" --config broker.json >ready.txt 2>broker.log &
pids+=($!)
sdv_wait_file ready.txt 100 "${pids[-1]}" || { echo "FAIL: sdv-broker did not start: $(cat broker.log)"; exit 1; }
"$bin/sdv" token mint --key iss.pem --aud vehicle-api --sub vehicle \
    --scope "provide:Vehicle.Speed provide:Vehicle.Powertrain.TractionBattery provide:Vehicle.Cabin.HVAC.Station.Row1" >vehicle.tok
"$bin/sdv-vehicle-sim" provider --socket broker.sock --token-file vehicle.tok --period-ms 20 >provider.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "provider ready" provider.log 2>/dev/null && break; sleep 0.05; done
grep -q "provider ready" provider.log || { echo "FAIL: provider did not start: $(cat provider.log)"; exit 1; }

# app ID SCOPES_JSON ARGS_JSON [LIMITS_JSON]: writes ID.json, a manifest for sdv-app-probe.
app() {
    printf '{"id": "%s", "description": "test app", "executable": "%s", "args": %s, "scopes": %s%s}\n' \
        "$1" "$bin/sdv-app-probe" "$3" "$2" "${4:+, \"limits\": $4}" >"$1.json"
}
# run MANIFEST [OPTIONS...]: sdv app run against this broker; output in run.out, status in $rc.
run() {
    local m=$1
    shift
    "$bin/sdv" app run --manifest "$m" --broker-socket "$work/broker.sock" --issuer-key iss.pem \
        --aud vehicle-api --data-dir "$work/apps" "$@" >run.out 2>&1
    rc=$?
}
has() { grep -q -- "$1" run.out; }

# Can this kernel give us the namespaces at all?
app probe-ns '["read:Vehicle.Speed"]' '["limits"]'
run probe-ns.json
if [ $rc -ne 0 ] && has "cannot create namespaces"; then
    echo "SKIP: !!! namespaces are not available here, the sandbox cannot run: $(cat run.out)"
    exit 77
fi

# 1. climate: may actuate the cabin HVAC; keeps a secret in its own data directory.
app climate '["read:Vehicle.Speed", "actuate:Vehicle.Cabin.HVAC"]' \
    '["set", "'$TEMP'", "21", "read-await", "'$TEMP'", "21", "write-data", "secret.txt", "climate-secret"]'
run climate.json
if [ $rc -eq 0 ] && has "set $TEMP = 21 accepted" && has "read $TEMP = 21"; then
    sdv_pass "climate app actuates the cabin temperature within its scope"
else
    sdv_fail "climate app actuation (status $rc)" "$(cat run.out)"
fi
if [ "$(cat apps/climate/secret.txt 2>/dev/null)" = climate-secret ]; then
    sdv_pass "climate app's /data is apps/climate on the host"
else
    sdv_fail "climate app's data file" "$(ls -la apps/climate 2>&1)"
fi

# 2. speedo: may read the speed only, and tries everything else.
app speedo '["read:Vehicle.Speed"]' '["limits", "read", "'$SPEED'", "read", "'$SOC'",
    "set", "'$TEMP'", "18",
    "escape-tcp", "127.0.0.1", "9", "escape-unix", "'$work/broker.sock'", "escape-socketpair",
    "escape-file", "'$work/apps/climate/secret.txt'", "escape-file", "/data/../climate/secret.txt",
    "escape-file", "'$work/iss.pem'", "escape-file", "/proc/1/environ", "escape-procs", "escape-net", "escape-ptrace",
    "escape-mount", "escape-userns", "write-data", "notes", "hello", "read-data", "notes",
    "threads"]' \
    '{"open_files": 32, "file_size_mb": 2, "cpu_s": 30}'
run speedo.json
if has "^read $SPEED = [0-9]"; then sdv_pass "speedo reads Vehicle.Speed"; else sdv_fail "speedo read" "$(cat run.out)"; fi
if has "^refused $SOC: status 403" && has "^refused $TEMP: status 403"; then
    sdv_pass "speedo is refused (403) outside its scope (battery read, HVAC actuation)"
else
    sdv_fail "speedo refusals" "$(cat run.out)"
fi
[ $rc -eq 3 ] && sdv_pass "speedo exits 3 (refused, nothing escaped)" || sdv_fail "speedo exit status $rc (3 expected)" "$(cat run.out)"
for e in "tcp socket: blocked (Operation not permitted)" \
    "unix $work/broker.sock visible: blocked (No such file or directory)" \
    "unix socket: blocked (Operation not permitted)" "socketpair: blocked (Operation not permitted)" \
    "file $work/apps/climate/secret.txt: blocked (No such file or directory)" \
    "file /data/../climate/secret.txt: blocked (No such file or directory)" \
    "file $work/iss.pem: blocked (No such file or directory)" \
    "file /proc/1/environ: blocked (Permission denied)" \
    "ptrace: blocked (Operation not permitted)" "mount: blocked (Operation not permitted)" \
    "unshare user namespace: blocked (Operation not permitted)"; do
    if has "^escape $e"; then sdv_pass "sandboxed: $e"; else sdv_fail "not blocked: $e" "$(grep "^escape" run.out)"; fi
done
if has "^escape procs: sees 2: 1 2$"; then sdv_pass "sees only its init and itself (PIDs 1 2)"; else sdv_fail "process isolation" "$(grep procs run.out)"; fi
if has "^escape net: interfaces lo$"; then sdv_pass "no network interface but a loopback (down)"; else sdv_fail "network namespace" "$(grep net: run.out)"; fi
has ESCAPED && sdv_fail "something escaped" "$(grep ESCAPED run.out)"
if has "^data notes = hello" && [ "$(cat apps/speedo/notes)" = hello ]; then
    sdv_pass "speedo writes and reads its own data directory"
else
    sdv_fail "speedo data" "$(cat run.out)"
fi
# A root launcher runs apps as nobody; any other runs them as itself (in a user namespace).
app_uid=65534
[ "$(id -u)" = 0 ] || app_uid=$(id -u)
if has "^identity uid=$app_uid .*pid=2 host=speedo" && has "^limit nofile 32$" &&
    has "^limit fsize 2097152$" && has "^limit cpu 30$" && has "^limit core 0$"; then
    sdv_pass "runs as uid $app_uid, PID 2, host name = app id, manifest rlimits applied"
else
    sdv_fail "identity/limits" "$(grep -E '^(identity|limit)' run.out)"
fi
has "^threads: ok$" && sdv_pass "threads work (clone3 refused with ENOSYS, clone allowed)" || sdv_fail "threads" "$(grep threads run.out)"
if [ "$(stat -c %a apps/climate)" = 700 ] && [ "$(stat -c %a apps/speedo)" = 700 ]; then
    sdv_pass "data directories are private (0700)"
else
    sdv_fail "data directory modes" "$(ls -l apps)"
fi

# --user: another unprivileged user for the app, who then owns its data directory.
if [ "$(id -u)" = 0 ]; then
    app owner '["read:Vehicle.Speed"]' '["limits", "write-data", "f", "x"]'
    run owner.json --user 4242:4343
    if [ $rc -eq 0 ] && has "^identity uid=4242 gid=4343 " && [ "$(stat -c %u:%g apps/owner/f)" = 4242:4343 ]; then
        sdv_pass "--user 4242:4343 runs the app as that user, owning its data"
    else
        sdv_fail "--user (status $rc)" "$(cat run.out; ls -ln apps/owner)"
    fi
fi

# 3. A system program as the app: the kernel's view of the sandbox, from inside.
printf '{"id": "shell", "executable": "/bin/sh", "args": ["-c", "grep -E \\"^(CapEff|CapBnd|NoNewPrivs|Seccomp):\\" /proc/self/status; ulimit -v; ls /; ls /data | wc -l; echo x > /usr/x || echo usr-ro; echo x > /tmp/x && echo tmp-rw; df -k /tmp | tail -n 1"], "scopes": ["read:Vehicle.Speed"], "limits": {"memory_mb": 64, "tmp_mb": 4}}\n' >shell.json
run shell.json
if [ $rc -eq 0 ] && has "CapEff:	0000000000000000" && has "CapBnd:	0000000000000000" &&
    has "NoNewPrivs:	1" && has "Seccomp:	2" && has "^65536$"; then
    sdv_pass "no capabilities (effective, bounding), no_new_privs, seccomp filter mode, 64 MiB address space"
else
    sdv_fail "process state of a sandboxed shell (status $rc)" "$(cat run.out)"
fi
root_ls=$(sed -n '/^65536$/,/^[0-9]*$/p' run.out | sed '1d;$d' | tr '\n' ' ')
if [ "$root_ls" = "app bin data dev etc lib lib32 lib64 proc sbin tmp usr " ] ||
    [ "$root_ls" = "app bin data dev etc lib lib64 proc sbin tmp usr " ]; then
    sdv_pass "the root holds only: $root_ls"
else
    sdv_fail "the sandbox root" "$root_ls"
fi
if has "^usr-ro$" && has "^tmp-rw$" && has " 4096 "; then
    sdv_pass "/usr is read-only, /tmp private, writable and 4 MiB"
else
    sdv_fail "file system rules" "$(cat run.out)"
fi

# 4. Bad manifests: refused before anything runs, the member named.
bad() {
    local name=$1 pattern=$2
    printf '%s\n' "$3" >bad.json
    run bad.json
    if [ $rc -eq 125 ] && has "bad.json: .*$pattern"; then
        sdv_pass "bad manifest, $name: $(head -n 1 run.out)"
    else
        sdv_fail "bad manifest, $name (status $rc)" "$(cat run.out)"
    fi
}
exe="\"executable\": \"$bin/sdv-app-probe\""
bad "not JSON" "line [0-9]* column" '{"id": "x",'
bad "unknown member" 'unknown member "scope"' "{\"id\": \"x\", $exe, \"scope\": [\"read:Vehicle.Speed\"]}"
bad "bad id" 'id: "../x" must be' "{\"id\": \"../x\", $exe, \"scopes\": [\"read:Vehicle.Speed\"]}"
bad "missing executable" "executable: missing" '{"id": "x", "scopes": ["read:Vehicle.Speed"]}'
bad "executable not there" "executable .*nothere" "{\"id\": \"x\", \"executable\": \"nothere\", \"scopes\": [\"read:Vehicle.Speed\"]}"
bad "foreign scope" 'scopes\[1\]: "write:Vehicle.Speed" is not' "{\"id\": \"x\", $exe, \"scopes\": [\"read:Vehicle.Speed\", \"write:Vehicle.Speed\"]}"
bad "malformed pattern" 'scopes\[0\]: "read:Vehicle..Speed"' "{\"id\": \"x\", $exe, \"scopes\": [\"read:Vehicle..Speed\"]}"
bad "two grants in one" 'scopes\[0\]: one grant per entry' "{\"id\": \"x\", $exe, \"scopes\": [\"read:Vehicle.Speed read:Vehicle\"]}"
bad "scopes and purpose" "exactly one of scopes and purpose" "{\"id\": \"x\", $exe, \"scopes\": [\"read:Vehicle.Speed\"], \"purpose\": \"speed-only\"}"
bad "no grants" "exactly one of scopes and purpose" "{\"id\": \"x\", $exe}"
bad "limit out of range" "limits.open_files: must be a whole number 8.." "{\"id\": \"x\", $exe, \"scopes\": [\"read:Vehicle.Speed\"], \"limits\": {\"open_files\": 2}}"
bad "unknown limit" 'limits: unknown member "ram"' "{\"id\": \"x\", $exe, \"scopes\": [\"read:Vehicle.Speed\"], \"limits\": {\"ram\": 2}}"
bad "argument not a string" "args\[1\]: must be a string" "{\"id\": \"x\", $exe, \"args\": [\"read\", 5], \"scopes\": [\"read:Vehicle.Speed\"]}"
[ -e apps/x ] && sdv_fail "a refused manifest created a data directory" || sdv_pass "refused manifests leave nothing behind"

# 5. The token: exactly the manifest's grants, subject app:<id>, the requested lifetime.
"$bin/sdv" app token --manifest climate.json --issuer-key iss.pem --aud vehicle-api --ttl 90 >app.tok 2>run.out
claims=$(cut -d. -f2 app.tok | tr '_-' '/+')
while [ $((${#claims} % 4)) -ne 0 ]; do claims="$claims="; done
claims=$(printf '%s' "$claims" | base64 -d 2>/dev/null)
if [[ $claims == *'"scope":"read:Vehicle.Speed actuate:Vehicle.Cabin.HVAC"'* ]] &&
    [[ $claims == *'"sub":"app:climate"'* ]] && [[ $claims == *'"client_id":"climate"'* ]]; then
    sdv_pass "token claims: $claims"
else
    sdv_fail "token claims" "$claims $(cat run.out)"
fi
iat=$(sed -n 's/.*"iat":\([0-9]*\).*/\1/p' <<<"$claims")
exp=$(sed -n 's/.*"exp":\([0-9]*\).*/\1/p' <<<"$claims")
[ -n "$iat" ] && [ $((exp - iat)) -eq 90 ] && sdv_pass "token lifetime is --ttl (90 s)" || sdv_fail "token lifetime" "$claims"
if out=$("$bin/sdv" token verify --key iss.pub.pem --aud vehicle-api - <app.tok) && [[ $out == "ok sub=app:climate client=climate"* ]]; then
    sdv_pass "the broker's own check accepts it: $out"
else
    sdv_fail "token verify" "$out"
fi

# 6. The session ends with the token: after --ttl 2 the same connection is refused (401). exp
# is in whole seconds, so the token is valid for 1 to 2 s; the probe reads at once and again
# 2.6 s later (--no-renew: the launcher does not renew the session).
app brief '["read:Vehicle.Speed"]' '["read", "'$SPEED'", "sleep", "2600", "read", "'$SPEED'"]'
run brief.json --ttl 2 --no-renew
if has "^read $SPEED = " && has "^refused $SPEED: .*expired"; then
    sdv_pass "the token expires: $(grep ^refused run.out)"
else
    sdv_fail "token expiry (status $rc)" "$(cat run.out)"
fi

# 6b. Session renewal: with --ttl 3 the launcher renews the app's session by handle over a
# connection of its own (RENEW) at 2/3 of each token's life, so a subscription held for 7 s
# (more than two lifetimes) keeps receiving events to the end and is never ended. With
# --no-renew the same app sees its subscription ended (SUB_ENDED 401) when the token expires.
app longsub '["read:Vehicle.Speed"]' '["subscribe", "'$SPEED'", "7"]'
run longsub.json --ttl 3
renewals=$(grep -c "session renewed" run.out)
if [ $rc -eq 0 ] && has "^subscribe $SPEED: [0-9]* events, [1-9][0-9]* in the last second, ended: none$" &&
    [ "$renewals" -ge 2 ]; then
    sdv_pass "renewed $renewals times, the subscription outlives --ttl 3: $(grep ^subscribe run.out)"
else
    sdv_fail "session renewal (status $rc, $renewals renewals)" "$(cat run.out)"
fi
run longsub.json --ttl 3 --no-renew
ended_ms=$(sed -n "s/^subscribe $SPEED: .* ended: 401 at \([0-9]*\) ms: .*/\1/p" run.out)
if [ -n "$ended_ms" ] && [ "$ended_ms" -le 3600 ] && ! has "session renewed"; then
    sdv_pass "--no-renew: the subscription ends (401) at the token's expiry, after $ended_ms ms"
else
    sdv_fail "--no-renew expiry (status $rc)" "$(cat run.out)"
fi

# 7. A purpose instead of scopes.
printf '{"id": "fleet", "executable": "%s", "args": ["read", "%s", "read", "%s"], "purpose": "speed-only"}\n' \
    "$bin/sdv-app-probe" "$SPEED" "$SOC" >fleet.json
run fleet.json
if has "^read $SPEED = " && has "^refused $SOC: status 403"; then
    sdv_pass "an app with a purpose gets exactly the purpose's grants"
else
    sdv_fail "purpose app (status $rc)" "$(cat run.out)"
fi

# 8. The most dangerous calls kill the app (SIGSYS), and the launcher says why.
app evil '["read:Vehicle.Speed"]' '["forbidden-bpf"]'
run evil.json
if [ $rc -eq 159 ] && has "killed by signal 31 .*forbids"; then
    sdv_pass "bpf(2) kills the app: $(cat run.out)"
else
    sdv_fail "bpf not punished (status $rc)" "$(cat run.out)"
fi

# 9. A token the broker refuses: the app never starts.
"$bin/sdv" keygen --type ed25519 --out stranger >/dev/null
"$bin/sdv" app run --manifest speedo.json --broker-socket "$work/broker.sock" --issuer-key stranger.pem \
    --aud vehicle-api --data-dir "$work/apps" >run.out 2>&1
rc=$?
if [ $rc -eq 125 ] && has "refused the app's session" && ! has "^identity"; then
    sdv_pass "an untrusted issuer key: refused before the app runs"
else
    sdv_fail "untrusted issuer (status $rc)" "$(cat run.out)"
fi

# 10. SIGTERM to the launcher reaches the app, which ends at once.
app sleeper '["read:Vehicle.Speed"]' '["sleep", "20000"]'
"$bin/sdv" app run --manifest sleeper.json --broker-socket "$work/broker.sock" --issuer-key iss.pem \
    --aud vehicle-api >sleeper.out 2>&1 &
spid=$!
sleep 0.5
start=$(date +%s%N)
kill -TERM $spid
wait $spid
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
if [ $rc -eq 143 ] && [ $ms -lt 3000 ]; then sdv_pass "SIGTERM stops the app in $ms ms (status 143)"; else sdv_fail "SIGTERM (status $rc after $ms ms)" "$(cat sleeper.out)"; fi

# 11. Not root: the launcher falls back to a user namespace.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    mkdir -p nr && cp "$bin/sdv" "$bin/sdv-app-probe" iss.pem nr/ && chmod 755 "$work" nr && chmod 644 nr/iss.pem
    chmod 666 broker.sock
    printf '{"id": "nr", "executable": "sdv-app-probe", "args": ["limits", "read", "%s", "escape-tcp", "127.0.0.1", "9", "escape-procs", "escape-ptrace", "escape-file", "/proc/1/environ", "escape-file", "/proc/1/mem"], "scopes": ["read:Vehicle.Speed"]}\n' "$SPEED" >nr/nr.json
    (cd nr && setpriv --reuid=65534 --regid=65534 --clear-groups ./sdv app run --manifest nr.json \
        --broker-socket "$work/broker.sock" --issuer-key iss.pem --aud vehicle-api >../run.out 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && has "cannot create namespaces"; then
        echo "SKIP (part): !!! unprivileged user namespaces are disabled here: $(cat run.out)"
    elif [ $rc -eq 0 ] && has "^read $SPEED = " && has "^escape tcp socket: blocked" &&
        has "^escape procs: sees 2: 1 2$" && has "^escape ptrace: blocked" && has "^identity uid=65534 .*pid=2" &&
        has "^escape file /proc/1/environ: blocked" && has "^escape file /proc/1/mem: blocked"; then
        sdv_pass "as an unprivileged user (user namespace): same isolation, the init's memory and environment closed"
    else
        sdv_fail "unprivileged launcher (status $rc)" "$(cat run.out)"
    fi
fi

if ! kill -0 "${pids[0]}" 2>/dev/null; then sdv_fail "sdv-broker died" "$(tail -n 5 broker.log)"; fi
echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ]
