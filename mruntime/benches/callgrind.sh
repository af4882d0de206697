#!/usr/bin/env bash
# Instructions per operation, ours and bare, counted by callgrind (repeatable on a loaded
# machine, unlike times).
#
#   bash mruntime/benches/callgrind.sh                      # spawn_join recover_sync recover_async panic_path
#   bash mruntime/benches/callgrind.sh layer_request panic_storm
#
# For each case and side, runs the overhead harness under `valgrind --tool=callgrind` twice, a
# smoke run (4 batches) and a quick run (a fifth of the rounds), and prints
# `(Ir(quick) - Ir(smoke)) / (ops(quick) - ops(smoke))`: start-up and set-up cancel out. The
# profiles stay in target/callgrind/<case>.<side>.<run> for `callgrind_annotate`. The spawn
# cases run on one worker (MRUNTIME_BENCH_WORKERS=1): an idle second worker's spinning would
# add noise of several instructions per task.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$TARGET/callgrind
mkdir -p "$OUT"
CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(spawn_join recover_sync recover_async panic_path)

BIN=$(cd "$REPO" && cargo bench -p mruntime --bench overhead --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "callgrind.sh: no overhead bench binary" >&2; exit 1; }

# Runs one side of one case; prints "<instructions> <ops>".
measure() {
    local case=$1 side=$2 run=$3 args=()
    [ "$run" = quick ] && args=(--bench)
    local log=$OUT/$case.$side.$run.log
    MRUNTIME_BENCH_QUICK=1 MRUNTIME_BENCH_SIDE=$side MRUNTIME_BENCH_WORKERS=1 valgrind --tool=callgrind \
        --callgrind-out-file="$OUT/$case.$side.$run" --log-file="$log.valgrind" \
        "$BIN" "${args[@]}" "$case" > "$log"
    local ir ops
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log.valgrind")
    ops=$(awk '/^  ops /{n += $2} END {print n + 0}' "$log")
    echo "$ir $ops"
}

for case in "${CASES[@]}"; do
    line="callgrind $case"
    declare -A per_op=()
    for side in bare ours; do
        read -r ir_smoke ops_smoke < <(measure "$case" "$side" smoke)
        read -r ir_quick ops_quick < <(measure "$case" "$side" quick)
        per_op[$side]=$(awk -v a="$ir_quick" -v b="$ir_smoke" -v c="$ops_quick" -v d="$ops_smoke" \
            'BEGIN { printf "%.1f", (a - b) / (c - d) }')
        line+=" $side ${per_op[$side]}"
    done
    echo "$line added $(awk -v o="${per_op[ours]}" -v b="${per_op[bare]}" 'BEGIN { printf "%.1f", o - b }') instructions/op"
done
