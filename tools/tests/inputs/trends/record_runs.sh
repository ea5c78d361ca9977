#!/bin/sh
# Records the real runs behind the trend demo and the change-point noise pool:
# runs FIRST..LAST of the quick profile, filtered to BENCHES, with a fixed hash seed.
# Runs numbered <= SWITCH use the reference build (slowdown hook matching nothing),
# later ones the build whose state_range/results/100 is 15% slower per operation.
#   record_runs.sh OUTDIR FIRST LAST SWITCH REF_BENCH SLOW_BENCH
# Each run is taken under the machine's timing lock (one short hold per run).
set -eu
out=$1 first=$2 last=$3 switch=$4 ref=$5 slow=$6
BENCHES='^(state_get_inmemory/1000|state_get_inmemory/100000|state_get_mmap/1000|state_put_inmemory/1000|state_put_mmap/1000|state_range/results/100|state_range/results/1000|state_snapshot/inmemory/1MB)$'
mkdir -p "$out"
i=$first
while [ "$i" -le "$last" ]; do
  bench=$ref; [ "$i" -gt "$switch" ] && bench=$slow
  f=$(printf '%s/run-%03d.json' "$out" "$i")
  STATESTORE_BENCH_HASH_SEED=12345 flock /tmp/statestore-timing.lock \
    env PYTHONPATH=tools /usr/bin/python3 -m benchrun single --bench "$bench" --profile quick \
    --filter "$BENCHES" --out "$f" >/dev/null
  echo "run $i $(date -u +%H:%M:%S) $bench"
  i=$((i + 1))
done
