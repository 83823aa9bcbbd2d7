# shellcheck shell=bash
# lib-test.sh: bash helpers shared by the scripts that run a real fleet on 127.0.0.1 (the
# integration tests, the attack harness, the benchmarks and the demo). Source it, do not run it:
#
#   . "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../scripts/lib-test.sh"
#
# It only defines functions (prefixed sdv_); it sets no options, traps or variables, except that
# sdv_pass and sdv_fail count in the caller's PASSED and FAILED.

# sdv_wait_file FILE [TRIES [PID]]: waits until FILE is not empty, polling every 50 ms, TRIES
# times (default 200: 10 s). Gives up early when PID is given and that process has exited.
# Status 0 once FILE has content, 1 otherwise.
sdv_wait_file() {
    local file=$1 tries=${2:-200} pid=${3:-} _
    for _ in $(seq "$tries"); do
        [ -s "$file" ] && return 0
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -s "$file" ]
}

# sdv_stop_pids PID...: sends each process SIGTERM, then reaps them all (failures ignored).
sdv_stop_pids() {
    local p
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# sdv_cleanup_work: the EXIT trap of a script that starts processes in a temporary directory
# (`trap sdv_cleanup_work EXIT`): stops the processes in the caller's pids array
# (sdv_stop_pids), removes the caller's $work directory and exits with the script's status.
# shellcheck disable=SC2154 # pids and work are the caller's
sdv_cleanup_work() {
    local status=$?
    sdv_stop_pids "${pids[@]}"
    rm -rf "$work"
    exit "$status"
}

# sdv_bin_dir DIR PROG...: prints DIR's absolute path once every PROG is an executable in it;
# otherwise names the missing one ("build first") on stderr and returns 1.
sdv_bin_dir() {
    local dir p
    dir=$(cd "$1" 2>/dev/null && pwd) || { echo "${0##*/}: no directory $1 (build first)" >&2; return 1; }
    shift
    for p in "$@"; do
        [ -x "$dir/$p" ] || { echo "${0##*/}: $dir/$p is missing (build first)" >&2; return 1; }
    done
    echo "$dir"
}

# sdv_repo_init SDV DIR KEYS: a new image repository in DIR whose four top-level roles use the
# keys KEYS-root.pub.pem, KEYS-targets.pub.pem, KEYS-snapshot.pub.pem, KEYS-timestamp.pub.pem.
sdv_repo_init() {
    local sdv=$1 dir=$2 keys=$3 r
    "$sdv" repo init "$dir" >/dev/null
    for r in root targets snapshot timestamp; do
        "$sdv" repo add-key "$dir" --role $r --key "$keys-$r.pub.pem" >/dev/null
    done
}

# sdv_repo_publish_all SDV DIR KEYS [TIMESTAMP_ARG...]: signs root and targets offline, then the
# snapshot and the timestamp (with TIMESTAMP_ARGs), all with the private keys KEYS-ROLE.pem, and
# publishes DIR's first version.
sdv_repo_publish_all() {
    local sdv=$1 dir=$2 keys=$3
    shift 3
    "$sdv" repo sign "$dir" --role root --key "$keys-root.pem" >/dev/null
    "$sdv" repo sign "$dir" --role targets --key "$keys-targets.pem" >/dev/null
    "$sdv" repo snapshot "$dir" --key "$keys-snapshot.pem" >/dev/null
    "$sdv" repo timestamp "$dir" --key "$keys-timestamp.pem" "$@" >/dev/null
    "$sdv" repo publish "$dir" >/dev/null
}

# sdv_server_json DIR TOKEN [LISTEN [TOP [IMAGE [DIRECTOR]]]]: prints the configuration of an
# sdv-server on 127.0.0.1 (a free port) with its state in DIR/server, the image repository
# DIR/imagerepo with online keys DIR/img-snapshot.pem and DIR/img-timestamp.pem, director keys
# DIR/dir-ROLE.pem, admin token TOKEN, and 127.0.0.1 as the trusted proxy that names vehicles in
# X-Client-Verified-Identity. LISTEN, TOP, IMAGE and DIRECTOR are JSON fragments, each with a
# leading comma, added to the listen object, the top level, image_repository and director.
sdv_server_json() {
    local dir=$1 token=$2 listen=${3:-} top=${4:-} image=${5:-} director=${6:-}
    cat <<JSON
{"listen": {"address": "127.0.0.1", "port": 0$listen},
 "state_dir": "$dir/server"$top,
 "image_repository": {"dir": "$dir/imagerepo", "snapshot_key": "$dir/img-snapshot.pem",
                      "timestamp_key": "$dir/img-timestamp.pem"$image},
 "director": {"root_keys": ["$dir/dir-root.pem"], "targets_key": "$dir/dir-targets.pem",
              "snapshot_key": "$dir/dir-snapshot.pem", "timestamp_key": "$dir/dir-timestamp.pem"$director},
 "admin": {"token": "$token"},
 "proxy": {"trusted": ["127.0.0.1"], "identity_header": "X-Client-Verified-Identity"}}
JSON
}

# sdv_secondary_conf DIR Z DIRECTOR_ROOT IMAGE_ROOT: prints the configuration of sdv-secondary
# ecu-Z (hardware id hw-zone) listening on unix:DIR/sec-Z.sock with key DIR/ecu-Z.pem, its state
# and slot in DIR/sec-Z and ready file DIR/sec-Z.ready; ecu-z2 verifies partially, any other
# fully.
sdv_secondary_conf() {
    local dir=$1 z=$2 mode=full
    [ "$z" = z2 ] && mode=partial
    cat <<CONF
listen = unix:$dir/sec-$z.sock
serial = ecu-$z
hardware_id = hw-zone
key = $dir/ecu-$z.pem
state_dir = $dir/sec-$z
slot = $dir/sec-$z/slot.img
verification = $mode
director_root = $3
image_root = $4
ready_file = $dir/sec-$z.ready
CONF
}

# sdv_pass NAME: records a passed check (counts in the caller's PASSED).
sdv_pass() {
    PASSED=$((PASSED + 1))
    echo "ok: $1"
}

# sdv_fail NAME [DETAIL]: records a failed check (counts in the caller's FAILED); the detail, or
# else the last command's output kept in last.out, follows indented.
sdv_fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL: $1"
    if [ $# -gt 1 ]; then
        echo "    $2"
    elif [ -f last.out ]; then
        sed 's/^/    /' last.out | head -n 20
    fi
}
