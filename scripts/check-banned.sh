#!/usr/bin/env bash
# Fails if lib/ uses a function banned by the house style (unbounded string functions, alloca,
# atoi) or reads the environment, the wall clock, or exits: lib/ gets those through its context.
set -euo pipefail
cd "$(dirname "$0")/.."

pattern='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|alloca|gets|getenv|exit|printf|puts)[[:space:]]*\('
pattern_clock='\btime[[:space:]]*\([[:space:]]*NULL[[:space:]]*\)|\bclock_gettime[[:space:]]*\(|\bgettimeofday[[:space:]]*\('
status=0
while IFS= read -r f; do
    # Strip comments and string literals crudely before matching.
    if sed -e 's://.*$::' -e 's/"[^"]*"//g' "$f" | grep -nE "$pattern|$pattern_clock" >/tmp/banned.$$ 2>/dev/null; then
        while IFS= read -r line; do
            echo "$f:$line: banned in lib/ (see STYLE: use bounded functions; clock/env via context)"
        done </tmp/banned.$$
        status=1
    fi
done < <(git ls-files 'lib/*.c' 'lib/*.h')
rm -f /tmp/banned.$$
exit $status
