#!/usr/bin/env bash
# run_powerloss.sh SDV SHIM: power-loss fault injection for lib/install. Each run installs v2
# over v1 with the LD_PRELOAD shim SHIM killing the process (SIGKILL) before its Nth durable
# call (write, fsync, rename, ...), N drawn at random over the whole sequence of one of two
# scenarios, alternating: "commit" (sdv slot install, simulated reboot, sdv slot boot with a
# passing health check) and "rollback" (the same with a failing health check, then the reboot
# back to A and its sdv slot boot). Then, as after a power cut:
#   1. the simulated firmware must boot a slot holding a complete image (v1 in A or v2 in B);
#   2. sdv slot boot must settle the state and the install log must verify;
#   3. a retried update must succeed: install, reboot into the new slot holding v2, committed.
# Runs: RUNS if given, else SDV_POWERLOSS_RUNS; "extended" as RUNS means SDV_POWERLOSS_RUNS
# and exit 77 (skipped) when it is unset. Seed: SDV_POWERLOSS_SEED (default: random, printed).
# Prints the count of runs and failures; fails on any failure.
#   run_powerloss.sh SDV SHIM [RUNS|extended]
set -u
SDV=$(realpath "$1")
SHIM=$(realpath "$2")
RUNS=${3:-${SDV_POWERLOSS_RUNS:-100}}
if [ "$RUNS" = extended ]; then
    [ -n "${SDV_POWERLOSS_RUNS:-}" ] || { echo "skipped: set SDV_POWERLOSS_RUNS=1000 to run"; exit 77; }
    RUNS=$SDV_POWERLOSS_RUNS
fi
case $RUNS in '' | *[!0-9]*) echo "run_powerloss: RUNS must be a number" >&2; exit 2 ;; esac
SEED=${SDV_POWERLOSS_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
# Under AddressSanitizer the shim is preloaded before the ASan runtime: allowed for this test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# On tmpfs when there is one: a SIGKILL keeps the page cache anyway, so disk fsyncs would only
# make the runs slower, not the test stronger.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
W=$(mktemp -d "${SDV_POWERLOSS_DIR:-$base}/sdv-powerloss.XXXXXX")
trap 'rm -rf "$W"' EXIT
echo "power-loss harness: $RUNS runs, seed $SEED (SDV_POWERLOSS_SEED=$SEED to replay)"

head -c 65536 /dev/urandom >"$W/v1.img"
head -c 50000 /dev/urandom >"$W/v2.img"

# template DIR: slot A holds v1 and is booted and good; slot B is empty.
template() {
    local d=$1
    mkdir -p "$d"
    cp "$W/v1.img" "$d/a.img"
    cat >"$d/conf.json" <<JSON
{"state_dir": "state", "ecu": "ecu-pl", "install": {
 "bootloader": "file", "boot_state": "bootstate.json", "boot_attempts": 2,
 "initial_version": "1", "health_check": {"command": "test ! -e unhealthy", "timeout_ms": 10000},
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "a.img", "size": 1048576, "bootname": "A"},
   {"name": "B", "path": "b.img", "size": 1048576, "bootname": "B"}]}]}}
JSON
    "$SDV" slot boot-sim --config "$d/conf.json" >/dev/null &&
        "$SDV" slot boot --config "$d/conf.json" >/dev/null
}

# The sequences under test: steps 0..2 (commit), 0..4 (rollback: v2 is unhealthy).
step() {
    local d=$1 i=$2
    case $i in
    0) "$SDV" slot install --config "$d/conf.json" --version 2 --checkpoint 16384 "$W/v2.img" ;;
    1 | 3) "$SDV" slot boot-sim --config "$d/conf.json" ;;
    2 | 4) (cd "$d" && "$SDV" slot boot --config conf.json) ;;
    esac
}
NSTEPS=(3 5)
SCEN=(commit rollback)

# holds DIR SLOT IMAGE: the slot file is exactly the image.
holds() { cmp -s "$1/$2.img" "$W/$3.img"; }

template "$W/template" || { echo "setup failed"; exit 1; }
fresh() { rm -rf "$1" && cp -a "$W/template" "$1"; }

# Count the durable calls of each step of each scenario in a clean run.
declare -A COUNTS
declare -a TOTAL
for sc in 0 1; do
    D="$W/count"
    fresh "$D"
    [ "$sc" = 1 ] && touch "$D/unhealthy"
    TOTAL[sc]=0
    for ((i = 0; i < NSTEPS[sc]; i++)); do
        SDV_FAULT_COUNT_FILE="$W/count.$i" LD_PRELOAD="$SHIM" step "$D" $i >/dev/null 2>&1
        rc=$?
        [ $rc -eq 0 ] || { [ "$sc" = 1 ] && [ "$i" = 2 ] && [ $rc -eq 4 ]; } ||
            { echo "clean ${SCEN[sc]} step $i failed ($rc)"; exit 1; }
        COUNTS[$sc,$i]=$(cat "$W/count.$i")
        TOTAL[sc]=$((TOTAL[sc] + COUNTS[$sc,$i]))
    done
    echo "${SCEN[sc]}: durable calls per step: $(for ((i = 0; i < NSTEPS[sc]; i++)); do printf '%s ' "${COUNTS[$sc,$i]}"; done)"
done

FAIL=0
for run in $(seq 1 "$RUNS"); do
    D="$W/run"
    fresh "$D"
    sc=$((run % 2))
    [ "$sc" = 1 ] && touch "$D/unhealthy"
    N=$(( (RANDOM * 32768 + RANDOM) % TOTAL[sc] + 1 ))
    left=$N
    where=""
    for ((i = 0; i < NSTEPS[sc]; i++)); do
        if [ "$left" -le "${COUNTS[$sc,$i]}" ]; then
            SDV_FAULT_AT=$left LD_PRELOAD="$SHIM" step "$D" $i >/dev/null 2>&1
            where="${SCEN[sc]} step $i call $left"
            break
        fi
        step "$D" $i >/dev/null 2>&1
        left=$((left - COUNTS[$sc,$i]))
    done
    why=""
    # 1. Power back on: the firmware boots a complete image.
    booted=$("$SDV" slot boot-sim --config "$D/conf.json" 2>&1)
    case $booted in
    A) holds "$D" a v1 || why="booted A which does not hold v1" ;;
    B) holds "$D" b v2 || why="booted B which does not hold a complete v2" ;;
    *) why="boot-sim: $booted" ;;
    esac
    # 2. The verdict after the boot, and the log.
    if [ -z "$why" ]; then
        out=$(step "$D" 2 2>&1)
        rc=$?
        [ $rc -eq 0 ] || [ $rc -eq 4 ] || why="slot boot: $out"
        # Still on the slot that failed its health check: reboot back, as the agent would.
        case $out in *"reboot required"*)
            booted=$(step "$D" 1 2>&1)
            [ "$booted" = A ] && holds "$D" a v1 || why="reboot after the rollback: booted $booted"
            [ -n "$why" ] || out=$(step "$D" 2 2>&1) || why="slot boot after the rollback: $out"
            ;;
        esac
    fi
    rm -f "$D/unhealthy"
    # 3. A retried update succeeds.
    if [ -z "$why" ]; then
        out=$(step "$D" 0 2>&1) || why="retried install: $out"
    fi
    if [ -z "$why" ]; then
        booted=$("$SDV" slot boot-sim --config "$D/conf.json" 2>&1)
        holds "$D" "${booted,,}" v2 || why="after the retry, booted $booted without v2"
    fi
    if [ -z "$why" ]; then
        out=$(step "$D" 2 2>&1)
        case $out in *"committed version 2"*) ;; *) why="retry not committed: $out" ;; esac
    fi
    [ -n "$why" ] || "$SDV" slot log --verify --config "$D/conf.json" >/dev/null 2>&1 ||
        why="the install log does not verify"
    if [ -n "$why" ]; then
        FAIL=$((FAIL + 1))
        echo "run $run FAILED (kill at durable call $N: $where): $why"
    fi
done
echo "power-loss harness: $RUNS runs, $FAIL failures (seed $SEED)"
[ "$FAIL" -eq 0 ]
