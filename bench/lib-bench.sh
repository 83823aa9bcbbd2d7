# shellcheck shell=bash
# lib-bench.sh: helpers shared by the benchmark scripts in bench/. Source it, do not run it:
#
#   . "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-bench.sh"
#
# It only defines functions (prefixed sdv_bench_); it sets no options, traps or variables.

# sdv_bench_median [NUMBER...]: prints the median of the numbers given as arguments, or of the
# numbers read one a line from standard input when there are none (the mean of the middle two
# for an even count).
sdv_bench_median() {
    { if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cat; fi; } | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
