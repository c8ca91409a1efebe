#!/usr/bin/env bash
# `make demo`: shows a 4-rank job on this machine: where each rank is pinned, the noop kernel
# pushing tasks through the Raft-elected coordinator and the workers, then the same job
# surviving the SIGKILL of its coordinator.
# (The wordcount demo replaces the second step once the map-reduce engine lands.)
set -euo pipefail
build=${1:-build}
rm_bin=$build/bin/ringmaster
export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
launch=(timeout 120 mpirun --oversubscribe --enable-recovery -np 4)

echo "== ringmaster info: one row per rank"
"${launch[@]}" "$rm_bin" info
echo
echo "== ringmaster run noop --tasks 20000 --task-ms 0 (4 ranks: 1 coordinator, 3 workers)"
start=$(date +%s.%N)
"${launch[@]}" "$rm_bin" run noop --tasks 20000
end=$(date +%s.%N)
python3 -c "print('wall time including MPI start-up: %.2f s' % ($end - $start))"

echo
echo "== 3 s of work per worker; the leader is killed (SIGKILL) after 1 s"
status=$(mktemp -d)/status.json
"${launch[@]}" "$rm_bin" run noop --tasks 120 --task-ms 75 --batch-size 2 --status "$status" &
job=$!
for _ in $(seq 1 50); do
    [ -s "$status" ] && grep -q '"state": "running"' "$status" && break
    sleep 0.1
done
sleep 1
leader_pid=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
print(d['ranks'][d['leader']]['pid'])" "$status")
echo "killing the leader, pid $leader_pid"
kill -9 "$leader_pid"
wait "$job" || true
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
dead = [r['rank'] for r in d['ranks'] if r['role'] == 'dead']
print('status file: state %s, leader rank %d, term %d, dead ranks %s, tasks %d/%d, %d rescheduled'
      % (d['state'], d['leader'], d['term'], dead, d['tasks']['done'], d['tasks']['total'],
         d['tasks']['rescheduled']))" "$status"
