#!/usr/bin/env bash
# Runs every benchmark and writes one JSON file per benchmark under bench/results/, each
# wrapped with the machine, the date and the commit. Usage: bench/run.sh BUILD_DIR
# Knobs (environment): BENCH_KILLS [20], BENCH_IDLE_SECONDS [20],
# BENCH_FALSEPOS_SECONDS [600], BENCH_REPS [9], BENCH_WC_MB [1024], BENCH_WC_REPS [5],
# BENCH_PIPELINE_REPS [1].
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/results
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
rm_bin=$build/bin/ringmaster
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"

# save NAME COMMAND...: runs COMMAND (which prints one JSON object) and wraps it.
save() {
    local name=$1; shift
    echo "bench: $name ..." >&2
    local json
    if ! json=$("$@"); then
        echo "bench: $name failed" >&2
        return 1
    fi
    python3 - "$out/$name.json" "$machine" "$commit" "$json" <<'PY'
import json, sys, time
path, machine, commit, raw = sys.argv[1:5]
doc = {"name": path.rsplit("/", 1)[1][:-5], "machine": machine, "commit": commit,
       "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "result": json.loads(raw)}
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
import os; os.replace(tmp, path)
print(json.dumps(doc["result"]))
PY
}

status=0
# Same node (shared memory), and over Open MPI's TCP transport on loopback (as between nodes).
save transport timeout 900 mpirun -np 2 "$build/bench/bench_transport" "${BENCH_REPS:-9}" \
    || status=1
save transport_tcp timeout 900 mpirun -np 2 --mca btl self,tcp "$build/bench/bench_transport" \
    "${BENCH_REPS:-9}" || status=1
save raft_commit timeout 600 mpirun --oversubscribe -np 3 "$build/bench/bench_raft" 2000 200000 \
    || status=1
save idle_cpu timeout 300 python3 "$here/bench_runtime.py" idle "$rm_bin" \
    --seconds "${BENCH_IDLE_SECONDS:-20}" || status=1
save detection_latency timeout 1800 python3 "$here/bench_runtime.py" detect "$rm_bin" \
    --kills "${BENCH_KILLS:-20}" || status=1
save leader_failover timeout 1800 python3 "$here/bench_runtime.py" failover "$rm_bin" \
    --kills "${BENCH_KILLS:-20}" || status=1
if [ -x "$build/bench/bench_ring" ]; then
    save ring timeout 600 "$build/bench/bench_ring" || status=1
fi
save scheduler timeout 1800 python3 "$here/bench_scheduler.py" "$build" || status=1
save wordcount timeout 3600 python3 "$here/bench_wordcount.py" "$build" \
    --mb "${BENCH_WC_MB:-1024}" --reps "${BENCH_WC_REPS:-5}" \
    --pipeline-reps "${BENCH_PIPELINE_REPS:-1}" || status=1
save iterative timeout 3600 python3 "$here/bench_iterative.py" "$build" || status=1
save replicas timeout 3600 python3 "$here/bench_replicas.py" "$build" --mb "${BENCH_WC_MB:-1024}" \
    || status=1
save checkpoint timeout 3600 python3 "$here/bench_checkpoint.py" "$build" \
    --mb "${BENCH_WC_MB:-1024}" || status=1
save false_positives timeout 4000 python3 "$here/bench_runtime.py" falsepos "$rm_bin" \
    --seconds "${BENCH_FALSEPOS_SECONDS:-600}" || status=1
echo "bench: results in $out" >&2
exit $status
