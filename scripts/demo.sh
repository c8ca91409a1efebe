#!/usr/bin/env bash
# `make demo`: shows a 4-rank job on this machine: where each rank is pinned, then the noop
# kernel pushing tasks through the coordinator and workers, with fault tolerance on.
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
