#!/usr/bin/env bash
# Runs every benchmark and writes one JSON file per benchmark under bench/results/, each
# wrapped with the machine, the date, the commit and the knobs, then draws the plots
# (bench/plot.py) and rewrites the README's results table (bench/report.py) from whatever
# results exist, even when some benchmark failed. Usage: bench/run.sh BUILD_DIR
# Knobs (environment): BENCH_KILLS [20], BENCH_IDLE_SECONDS [20],
# BENCH_FALSEPOS_SECONDS [600], BENCH_REPS [9], BENCH_WC_MB [1024], BENCH_WC_REPS [5],
# BENCH_PIPELINE_REPS [1], BENCH_SWEEP_REPS [3].
# BENCH_QUICK=1: tiny sizes (32 MiB corpus, 2 kills, a 10 s false-positive run, 1 repetition)
# that check the whole pipeline in a few minutes. Not measurements: they go to
# BUILD_DIR/bench-quick/ (results, plots and a copy of the README), never to bench/results/.
# BENCH_OUT overrides the output folder.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
    : "${BENCH_KILLS:=2}" "${BENCH_IDLE_SECONDS:=3}" "${BENCH_FALSEPOS_SECONDS:=10}"
    : "${BENCH_REPS:=1}" "${BENCH_WC_MB:=32}" "${BENCH_WC_REPS:=1}" "${BENCH_PIPELINE_REPS:=1}"
    : "${BENCH_SWEEP_REPS:=1}"
    out=${BENCH_OUT:-$build/bench-quick}
    raft_args=(200 20000 1)
    ring_args=(--runs 1 --keys 65536)
    sched_args=(--tasks 100000 --reps 1)
    reps_args=(--reps 1)
else
    : "${BENCH_KILLS:=20}" "${BENCH_IDLE_SECONDS:=20}" "${BENCH_FALSEPOS_SECONDS:=600}"
    : "${BENCH_REPS:=9}" "${BENCH_WC_MB:=1024}" "${BENCH_WC_REPS:=5}" "${BENCH_PIPELINE_REPS:=1}"
    : "${BENCH_SWEEP_REPS:=3}"
    out=${BENCH_OUT:-$here/results}
    raft_args=(2000 200000 5)
    ring_args=()
    sched_args=()
    reps_args=()
fi
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
rm_bin=$build/bin/ringmaster
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
knobs="BENCH_KILLS=$BENCH_KILLS BENCH_IDLE_SECONDS=$BENCH_IDLE_SECONDS"
knobs+=" BENCH_FALSEPOS_SECONDS=$BENCH_FALSEPOS_SECONDS BENCH_REPS=$BENCH_REPS"
knobs+=" BENCH_WC_MB=$BENCH_WC_MB BENCH_WC_REPS=$BENCH_WC_REPS"
knobs+=" BENCH_PIPELINE_REPS=$BENCH_PIPELINE_REPS BENCH_SWEEP_REPS=$BENCH_SWEEP_REPS"
knobs+=" BENCH_QUICK=$quick"

# save NAME COMMAND...: runs COMMAND (which prints one JSON object) and wraps it.
# BENCH_ONLY="name..." runs only those (the other results stay as they are).
save() {
    local name=$1; shift
    if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $name "* ]]; then
        return 0
    fi
    echo "bench: $name ..." >&2
    local json t0=$SECONDS
    if ! json=$("$@"); then
        echo "bench: $name failed ($((SECONDS - t0)) s)" >&2
        return 1
    fi
    echo "bench: $name done ($((SECONDS - t0)) s)" >&2
    python3 - "$out/$name.json" "$machine" "$commit" "$json" "$knobs" "$quick" <<'PY'
import json, sys, time
path, machine, commit, raw, knobs, quick = sys.argv[1:7]
doc = {"name": path.rsplit("/", 1)[1][:-5], "machine": machine, "commit": commit,
       "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
       "knobs": dict(k.split("=", 1) for k in knobs.split())}
if quick == "1":
    doc["quick"] = True  # tiny sizes: a check of the pipeline, not a measurement
doc["result"] = json.loads(raw)
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
import os; os.replace(tmp, path)
print(json.dumps(doc["result"])[:300])
PY
}

status=0
started=$SECONDS
# Same node (our shared-memory rings, and our layer over MPI alone, against MPI's shared
# memory), and over Open MPI's TCP transport on loopback with our rings off (as between nodes).
save transport timeout 900 mpirun -np 2 "$build/bench/bench_transport" "$BENCH_REPS" \
    || status=1
save transport_tcp timeout 900 env RINGMASTER_SHM=0 mpirun -np 2 --mca btl self,tcp \
    "$build/bench/bench_transport" "$BENCH_REPS" || status=1
save raft_commit timeout 600 mpirun --oversubscribe -np 3 "$build/bench/bench_raft" \
    "${raft_args[@]}" || status=1
save idle_cpu timeout 300 python3 "$here/bench_runtime.py" idle "$rm_bin" \
    --seconds "$BENCH_IDLE_SECONDS" || status=1
save detection_latency timeout 1800 python3 "$here/bench_runtime.py" detect "$rm_bin" \
    --kills "$BENCH_KILLS" || status=1
save leader_failover timeout 1800 python3 "$here/bench_runtime.py" failover "$rm_bin" \
    --kills "$BENCH_KILLS" || status=1
if [ -x "$build/bench/bench_ring" ]; then
    save ring timeout 600 "$build/bench/bench_ring" "${ring_args[@]}" || status=1
fi
save scheduler timeout 1800 python3 "$here/bench_scheduler.py" "$build" "${sched_args[@]}" \
    || status=1
save trace_overhead timeout 1800 python3 "$here/bench_trace.py" "$build" "${sched_args[@]}" \
    || status=1
save wordcount timeout 3600 python3 "$here/bench_wordcount.py" "$build" \
    --mb "$BENCH_WC_MB" --reps "$BENCH_WC_REPS" --pipeline-reps "$BENCH_PIPELINE_REPS" \
    || status=1
for sweep in workers batch compression; do
    save "sweep_$sweep" timeout 3600 python3 "$here/bench_sweeps.py" "$sweep" "$build" \
        --mb "$BENCH_WC_MB" --reps "$BENCH_SWEEP_REPS" || status=1
done
save iterative timeout 3600 python3 "$here/bench_iterative.py" "$build" "${reps_args[@]}" \
    || status=1
save replicas timeout 3600 python3 "$here/bench_replicas.py" "$build" --mb "$BENCH_WC_MB" \
    "${reps_args[@]}" || status=1
save checkpoint timeout 3600 python3 "$here/bench_checkpoint.py" "$build" \
    --mb "$BENCH_WC_MB" "${reps_args[@]}" || status=1
save false_positives timeout 4000 python3 "$here/bench_runtime.py" falsepos "$rm_bin" \
    --seconds "$BENCH_FALSEPOS_SECONDS" || status=1

# From whatever results exist, even if some benchmark above failed.
python3 "$here/plot.py" --results "$out" || status=1
if [ "$quick" = 1 ]; then
    python3 "$here/report.py" --results "$out" --readme "$here/../README.md" \
        --output "$out/README.md" || status=1
else
    python3 "$here/report.py" --results "$out" || status=1
fi
echo "bench: results in $out ($((SECONDS - started)) s in all)" >&2
[ $status = 0 ] || echo "bench: some benchmark failed; see the messages above" >&2
exit $status
