#!/bin/sh
# The instruction-count half of the trend demo: runs FIRST..LAST of state_instr (callgrind; no
# timing lock needed, the counts do not depend on the machine's load) over the demo's workloads;
# runs numbered <= SWITCH use the reference build, later ones the +15% slowdown build.
#   record_instr_runs.sh OUTDIR FIRST LAST SWITCH REF_STATE_INSTR SLOW_STATE_INSTR
set -eu
out=$1 first=$2 last=$3 switch=$4 ref=$5 slow=$6
WORKLOADS='^(state_get_inmemory/1000|state_get_inmemory/100000|state_get_mmap/1000|state_put_inmemory/1000|state_put_mmap/1000|state_range/results/100|state_range/results/1000|state_snapshot/inmemory/1MB)$'
mkdir -p "$out"
i=$first
while [ "$i" -le "$last" ]; do
  bench=$ref; [ "$i" -gt "$switch" ] && bench=$slow
  PYTHONPATH=tools /usr/bin/python3 -m benchrun instr --bench "$bench" --filter "$WORKLOADS" \
    --out "$(printf '%s/run-%03d.json' "$out" "$i")" 2>/dev/null
  echo "instr run $i $(date -u +%H:%M:%S) $bench"
  i=$((i + 1))
done
