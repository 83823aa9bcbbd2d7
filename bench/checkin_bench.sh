#!/usr/bin/env bash
# checkin_bench.sh [--quick] [--vehicles N] [--rounds R] [--duration S] [--connections C] BIN_DIR
#
# A fleet's steady state: vehicles checking in with nothing new, i.e. each asking sdv-server for
# its director timestamp.json (GET /v1/vehicle/director/timestamp.json, the vehicle identified by
# the trusted-proxy header X-Client-Verified-Identity). N vehicles are registered through the
# admin API first (SQLite store, the embedded default), and wrk rotates through their VINs.
# nginx (Debian's nginx-light, a foreground process with a temporary configuration on
# 127.0.0.1) serves a copy of one vehicle's timestamp.json at the same path, and is measured in
# the same run with the same wrk settings; rounds alternate between the two. Prints the medians
# of requests/s and p99 latency, the ratio sdv-server / nginx (PASS at >= 0.5, else BELOW) and
# how many vehicles one server carries at one check-in every 5 minutes. docs/bench.md explains
# the figures. Nothing fails because a figure is low; the script fails when a tool is missing
# or a request is answered with an error.
#
# BIN_DIR holds sdv and sdv-server (a Release or RelWithDebInfo build for real figures).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../scripts/lib-test.sh"
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-bench.sh"

usage="usage: checkin_bench.sh [--quick] [--vehicles N] [--rounds R] [--duration S] [--connections C] BIN_DIR"
vehicles=1000 rounds=3 duration=10 connections=64 threads=2 warmup=2 bin_dir=""
while [ $# -gt 0 ]; do
    case $1 in
    --quick) vehicles=50 rounds=1 duration=2 connections=16 warmup=1 ;;
    --vehicles) vehicles=${2:?$usage}; shift ;;
    --rounds) rounds=${2:?$usage}; shift ;;
    --duration) duration=${2:?$usage}; shift ;;
    --connections) connections=${2:?$usage}; shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) bin_dir=$1 ;;
    esac
    shift
done
[ -n "$bin_dir" ] || { echo "$usage" >&2; exit 2; }
bin=$(sdv_bin_dir "$bin_dir" sdv sdv-server) || exit 1
find_tool() { # prints the path of $1 (PATH, then /usr/sbin for nginx) or fails naming the package
    local p
    p=$(command -v "$1" 2>/dev/null || true)
    [ -z "$p" ] && [ -x "/usr/sbin/$1" ] && p=/usr/sbin/$1
    [ -n "$p" ] || {
        echo "checkin_bench: $1 not found; install the Debian package $2 (scripts/install-deps.sh does)" >&2
        exit 1
    }
    echo "$p"
}
wrk=$(find_tool wrk wrk)
nginx=$(find_tool nginx nginx-light)
python3=$(find_tool python3 python3)

work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-checkin-bench.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
trap 'exit 130' INT TERM
cd "$work"

calc() { awk "BEGIN { printf \"%f\", $1 }"; }
free_port() {
    "$python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # URL: until it answers at all (any status)
    for _ in $(seq 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.05
    done
    echo "checkin_bench: nothing answers at $1" >&2
    exit 1
}

# ---- sdv-server with N registered vehicles ------------------------------------------------------
token=bench-admin-token-0123456789
for k in img-root img-targets img-snapshot img-timestamp dir-root dir-targets dir-snapshot \
    dir-timestamp ecu; do
    "$bin/sdv" keygen --type ed25519 --out "$k" >/dev/null
done
sdv_repo_init "$bin/sdv" imagerepo img
sdv_repo_publish_all "$bin/sdv" imagerepo img
mkdir -p server
sdv_server_json "$work" "$token" ", \"threads\": $threads" >server.json
"$bin/sdv-server" --config server.json --port-file server.port >server.log 2>&1 &
pids+=($!)
sdv_wait_file server.port ||
    { cat server.log >&2; echo "checkin_bench: sdv-server did not start" >&2; exit 1; }
sdv_url=http://127.0.0.1:$(cat server.port)

# Registration over one keep-alive connection: a primary and two secondaries per vehicle, all
# with the same ECU key (the key does not matter to a check-in).
reg_start=$(date +%s.%N)
"$python3" - "$sdv_url" "$token" "$vehicles" ecu.pub.pem <<'PY'
import base64, http.client, json, sys, urllib.parse
url, token, n, pem = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
der = base64.b64decode("".join(l for l in open(pem) if not l.startswith("-----")))
key = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": der[-32:].hex()}}
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for i in range(n):
    vin = "SDVBENCH%09d" % i
    ecus = [{"serial": "%s-%s" % (vin, s), "hardware_id": hw, "public_key": key, "primary": s == "main"}
            for s, hw in (("main", "hw-main"), ("z1", "hw-zone"), ("z2", "hw-zone"))]
    body = json.dumps({"vin": vin, "primary_ecu_serial": vin + "-main", "ecus": ecus})
    conn.request("POST", "/v1/admin/vehicles", body,
                 {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    answer = r.read()
    if r.status != 201:
        sys.exit("checkin_bench: registering %s: HTTP %d %s" % (vin, r.status, answer[:200]))
PY
reg_s=$(calc "$(date +%s.%N) - $reg_start")

# ---- nginx serving a copy of one vehicle's timestamp.json at the same path ---------------------
mkdir -p www/v1/vehicle/director nginx/logs nginx/tmp
curl -sf -H "X-Client-Verified-Identity: SDVBENCH000000000" \
    "$sdv_url/v1/vehicle/director/timestamp.json" -o www/v1/vehicle/director/timestamp.json
ts_bytes=$(wc -c <www/v1/vehicle/director/timestamp.json)
# nginx's workers run as an unprivileged user when started as root: the files must be readable.
chmod 755 "$work" www www/v1 www/v1/vehicle www/v1/vehicle/director
chmod 644 www/v1/vehicle/director/timestamp.json
nginx_port=$(free_port)
cat >nginx/nginx.conf <<CONF
worker_processes $threads;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $work/nginx/logs/access.log;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    types { application/json json; }
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/www;
    }
}
CONF
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>nginx/logs/stderr.log &
pids+=($!)
nginx_url=http://127.0.0.1:$nginx_port
wait_http "$nginx_url/v1/vehicle/director/timestamp.json"

# ---- wrk: the same script and settings against both ---------------------------------------------
# Each thread pre-builds one request per VIN and starts at its own offset in the list.
cat >checkin.lua <<'LUA'
local counter = 0
function setup(thread)
    thread:set("offset", counter)
    counter = counter + 1
end
function init(args)
    local n = tonumber(args[1])
    reqs = {}
    for i = 0, n - 1 do
        reqs[i + 1] = wrk.format("GET", "/v1/vehicle/director/timestamp.json",
            {["X-Client-Verified-Identity"] = string.format("SDVBENCH%09d", i)})
    end
    nreqs = n
    pos = ((offset or 0) * 7919) % n
end
function request()
    pos = pos % nreqs + 1
    return reqs[pos]
end
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %d %d %d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(99.0),
        e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

run_wrk() { # URL SECONDS: prints "rps p99_us"; fails on errors or non-2xx answers
    local out
    out=$("$wrk" -t$threads -c"$connections" -d"${2}s" --latency -s checkin.lua \
        "$1/v1/vehicle/director/timestamp.json" -- "$vehicles")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "checkin_bench: $1 answered with errors:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/^RESULT/ { if ($4 + $5 > 0) { print "socket errors: " $4 ", status errors: " $5 > "/dev/stderr"; exit 1 }
                     print $2, $3 }' <<<"$out"
}

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || true)
echo "checkin_bench: sdv-server ($bin) vs $("$nginx" -v 2>&1 | sed 's/.*: //'), $(nproc) CPUs${cpu:+ ($cpu)}"
echo "  $vehicles vehicles registered in $(printf %.1f "$reg_s") s; timestamp.json is $ts_bytes bytes"
echo "  wrk -t$threads -c$connections -d${duration}s --latency, rotating through $vehicles VINs;" \
    "$rounds round(s), alternating; server threads / nginx workers: $threads"
run_wrk "$sdv_url" "$warmup" >/dev/null
run_wrk "$nginx_url" "$warmup" >/dev/null
: >sdv.txt
: >nginx.txt
for r in $(seq "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then order="sdv nginx"; else order="nginx sdv"; fi
    for who in $order; do
        if [ "$who" = sdv ]; then url=$sdv_url; else url=$nginx_url; fi
        res=$(run_wrk "$url" "$duration")
        echo "$res" >>"$who.txt"
        printf '  round %d %-10s %10.0f req/s  p99 %8.2f ms\n' "$r" "$who" "${res% *}" \
            "$(calc "${res#* } / 1000")"
    done
done
sdv_rps=$(cut -d' ' -f1 sdv.txt | sdv_bench_median)
sdv_p99=$(cut -d' ' -f2 sdv.txt | sdv_bench_median)
ngx_rps=$(cut -d' ' -f1 nginx.txt | sdv_bench_median)
ngx_p99=$(cut -d' ' -f2 nginx.txt | sdv_bench_median)
ratio=$(calc "$sdv_rps / $ngx_rps")
verdict=BELOW
[ "$(calc "($ratio >= 0.5) ? 1 : 0")" = 1.000000 ] && verdict=PASS
printf '\n  %-22s %12s %12s\n' "median of $rounds" "req/s" "p99 ms"
printf '  %-22s %12.0f %12.2f\n' "sdv-server" "$sdv_rps" "$(calc "$sdv_p99 / 1000")"
printf '  %-22s %12.0f %12.2f\n' "nginx (static file)" "$ngx_rps" "$(calc "$ngx_p99 / 1000")"
printf '  sdv-server / nginx: %.3f (target >= 0.5: %s)\n' "$ratio" "$verdict"
printf '  one check-in every 300 s: %.0f vehicles per server at saturation (req/s x 300);\n' \
    "$(calc "$sdv_rps * 300")"
printf '  plan for about half (%.0f) to leave headroom for bursts, manifests and downloads\n' \
    "$(calc "$sdv_rps * 150")"
