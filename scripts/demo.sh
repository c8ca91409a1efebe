#!/usr/bin/env bash
# `make demo`: a 4-rank job on this machine. Shows where each rank is pinned, then counts the
# words of a generated corpus (deterministic, 16 MB) with the wordcount kernel, then runs the
# same job again and kills its coordinator (SIGKILL) in the middle: the answer is the same.
set -euo pipefail
build=${1:-build}
bin=$build/bin
export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
launch=(timeout 300 mpirun --oversubscribe --enable-recovery -np 4)
demo=$build/demo
mkdir -p "$demo"
corpus=$demo/corpus.txt
if [ ! -s "$corpus" ]; then
    echo "== generating a 16 MB corpus (gen_corpus --seed 1) into $corpus"
    "$bin/gen_corpus" --bytes 16M --seed 1 --out "$corpus.tmp"
    mv "$corpus.tmp" "$corpus"
fi

echo "== ringmaster info: one row per rank"
"${launch[@]}" "$bin/ringmaster" info
echo
echo "== ringmaster run wordcount on $corpus (4 ranks: 1 coordinator, 3 workers)"
out=$demo/wordcount.tsv
rm -f "$out"
start=$(date +%s.%N)
"${launch[@]}" "$bin/ringmaster" run wordcount --input "$corpus" --output "$out" \
    --split-size 1M --quiet
end=$(date +%s.%N)
python3 -c "print('wall time including MPI start-up: %.2f s' % ($end - $start))"
echo "first lines of $out:"
head -3 "$out"

echo
echo "== the same job; its leader is killed (SIGKILL) once the first tasks are done"
echo "   (its map tasks are slowed by 40 ms each, a test-only setting, so that the job is still"
echo "   running when the status file first shows progress: unslowed it takes about 0.3 s)"
status=$demo/status.json
again=$demo/wordcount-leader-killed.tsv
rm -f "$status" "$again"
RINGMASTER_FAULT_SLOW_STAGE=0:40 "${launch[@]}" "$bin/ringmaster" run wordcount \
    --input "$corpus" --output "$again" --split-size 256K --status "$status" --quiet &
job=$!
leader_pid=
for _ in $(seq 1 200); do
    leader_pid=$(python3 - "$status" 2>/dev/null <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
if d["state"] == "running" and d["tasks"]["done"] > 0 and d["leader"] >= 0:
    print(d["ranks"][d["leader"]]["pid"])
PY
)
    [ -n "$leader_pid" ] && break
    sleep 0.02
done
if [ -n "$leader_pid" ]; then
    echo "killing the leader, pid $leader_pid"
    kill -9 "$leader_pid" 2>/dev/null || true
else
    echo "the job ended before the leader could be killed"
fi
wait "$job" || true
python3 - "$status" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
dead = [r["rank"] for r in d["ranks"] if r["role"] == "dead"]
print("status file: state %s, leader rank %d, term %d, dead ranks %s, tasks %d/%d, %d rescheduled"
      % (d["state"], d["leader"], d["term"], dead, d["tasks"]["done"], d["tasks"]["total"],
         d["tasks"]["rescheduled"]))
PY
if cmp -s "$out" "$again"; then
    echo "the output is identical to the first run's: $again"
else
    echo "ERROR: the output differs from the first run's" >&2
    exit 1
fi
