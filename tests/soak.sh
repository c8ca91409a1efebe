#!/usr/bin/env bash
# soak.sh BUILD_DIR [SEEDS] [JOBS]: the long Raft simulation, 100,000 seeds by default, split into
# chunks that run two at a time (this is a 2-core machine). Every failing seed prints the one
# command that replays it; the script exits non-zero if any seed failed.
set -euo pipefail

build=${1:?usage: soak.sh BUILD_DIR [SEEDS] [JOBS]}
seeds=${2:-100000}
jobs=${3:-2}
chunk=5000
sim="$build/tests/sim/sim_raft"
[[ -x $sim ]] || { echo "soak: $sim not found; build first" >&2; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)

# one line per chunk: "<first seed> <count>"
for ((first = 1; first <= seeds; first += chunk)); do
    n=$(( seeds - first + 1 < chunk ? seeds - first + 1 : chunk ))
    echo "$first $n"
done | xargs -P "$jobs" -L 1 bash -c \
    '"$0" --seeds "$2" --first "$1" > "'"$out"'/chunk-$1.log" 2>&1 || true' "$sim"

"$sim" --scripted > "$out/scripted.log" 2>&1 || true
cat "$out/scripted.log"
failed=$(grep -h '^FAIL' "$out"/chunk-*.log | wc -l || true)
grep -h -A1 '^FAIL' "$out"/chunk-*.log || true
ran=$(grep -h 'seeds from' "$out"/chunk-*.log | awk '{s += $1} END {print s + 0}')
echo "soak: $ran of $seeds seeds ran, $failed failed, $(( $(date +%s) - start )) s"
if [[ $ran -ne $seeds || $failed -ne 0 ]] || grep -q FAIL "$out/scripted.log"; then
    exit 1
fi

# Then the task-farm simulation: SOAK_FARM_SEEDS (20,000) standard seeds and a quarter as
# many from the harsher mix, from a random base.
farm="$build/tests/sim/sim_farm"
fseeds=${SOAK_FARM_SEEDS:-20000}
if [[ $fseeds -gt 0 && -x $farm ]]; then
    fbase=$(( RANDOM * 32768 + RANDOM ))
    "$farm" --seeds "$fseeds" --first "$fbase" > "$out/farm.log" 2> /dev/null || true
    "$farm" --stress --seeds $(( fseeds / 4 )) --first "$fbase" > "$out/stress.log" 2> /dev/null \
        || true
    grep -h -A1 'seeds from\|^FAIL' "$out/farm.log" "$out/stress.log"
    grep -q ' 0 failed' "$out/farm.log" && grep -q ' 0 failed' "$out/stress.log" \
        || { echo "soak: farm seeds failed (base $fbase)"; exit 1; }
fi

# Then random faults at random moments against real ranks (SOAK_FAULT_TRIALS, 40 by default),
# from a random base seed; a failing trial prints the command that replays it.
trials=${SOAK_FAULT_TRIALS:-40}
if [[ $trials -gt 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
    here=$(cd "$(dirname "$0")" && pwd)
    python3 "$here/mpi/test_random_faults.py" "$build/bin/ringmaster" --trials "$trials" \
        --seed $(( RANDOM * 32768 + RANDOM )) || exit 1
fi
