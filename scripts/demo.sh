#!/usr/bin/env bash
# The main job end to end on the small configuration (configs/small.ini):
# grid import → simulate training and test sets → train → catalogue → sample → evaluate.
# Runs on 2 cores in about 8 minutes (measured, docs/benchmarks.md); everything lands in out/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
IRISML=${IRISML:-build/src/cli/irisml}
OUT=${OUT:-out}
RANKS=${RANKS:-2}
CONFIG=${CONFIG:-configs/small.ini}
mkdir -p "$OUT"
run() { echo "+ $*"; "$@"; }
mpi() { run mpirun -np "$RANKS" "$@"; }
start=$(date +%s)

[ -f "$OUT/ck04.h5" ] || run "$IRISML" grid import --output "$OUT/ck04.h5"
mpi "$IRISML" simulate --config "$CONFIG" --grid "$OUT/ck04.h5" --output "$OUT/train.h5" --overwrite
mpi "$IRISML" simulate --config "$CONFIG" --grid "$OUT/ck04.h5" --output "$OUT/test.h5" --stars 2000 --seed 2 --overwrite
mpi "$IRISML" train --config "$CONFIG" --data "$OUT/train.h5" --output-dir "$OUT/run" --overwrite --threads 1
run "$IRISML" catalog make --config "$CONFIG" --from "$OUT/test.h5" --output "$OUT/catalog.h5" --overwrite
mpi "$IRISML" sample --config "$CONFIG" --model "$OUT/run/checkpoint.h5" --catalog "$OUT/catalog.h5" \
    --grid "$OUT/ck04.h5" --output "$OUT/posterior.h5" --keep-samples --overwrite --threads 1
run "$IRISML" evaluate --posterior "$OUT/posterior.h5" --truth "$OUT/catalog.h5" --report "$OUT/report" --overwrite

echo "demo: finished in $(( $(date +%s) - start )) s; report: $OUT/report/index.html"
