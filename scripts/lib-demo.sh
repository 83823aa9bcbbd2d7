# shellcheck shell=bash
# lib-demo.sh: what the demos (scripts/demo.sh, scripts/demo_broker.sh) print with. Source it
# after lib-test.sh. It defines step, ok, refused and fail (colours only on a terminal). fail
# prints the last lines of each log named in the caller's demo_logs array that exists in $work; refused
# prints the caller's demo_refused label ("refused" unless set).

if [ -t 1 ]; then
    sdv_demo_bold=$(printf '\033[1m') sdv_demo_green=$(printf '\033[32m')
    sdv_demo_red=$(printf '\033[31m') sdv_demo_off=$(printf '\033[0m')
else
    sdv_demo_bold="" sdv_demo_green="" sdv_demo_red="" sdv_demo_off=""
fi

# step TEXT: a heading for the next part of the story.
step() { printf '\n%s== %s%s\n' "$sdv_demo_bold" "$*" "$sdv_demo_off"; }
# ok TEXT: something that behaved.
ok() { printf '   %s✔%s %s\n' "$sdv_demo_green" "$sdv_demo_off" "$*"; }
# refused TEXT: something refused, as the story expects.
refused() { printf '   %s✘ %s:%s %s\n' "$sdv_demo_red" "${demo_refused:-refused}" "$sdv_demo_off" "$*"; }
# fail TEXT: the demo stops here, with the tails of its logs.
# shellcheck disable=SC2154 # demo_logs and work are the caller's
fail() {
    local log
    printf '   %sdemo failed:%s %s\n' "$sdv_demo_red" "$sdv_demo_off" "$*" >&2
    for log in "${demo_logs[@]}"; do
        [ -s "$work/$log" ] && { echo "--- $log (last lines)" >&2; tail -n 15 "$work/$log" >&2; }
    done
    exit 1
}
