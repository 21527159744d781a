#!/usr/bin/env bash
# Behaviour-preserving refactors: runs the pipeline's file-writing steps on a small
# configuration with two irisml binaries (before and after a change) and compares every
# output byte by byte: grid-free simulate at 2 ranks, train (40 steps) at 2 ranks, its
# checkpoint, catalog make, sample with --importance and --keep-samples at 2 ranks,
# fit on 6 stars, evaluate's metrics (each run inside its own directory, relative paths). Exit 0 only if all are identical.
# usage: scripts/check-identical.sh OLD_IRISML NEW_IRISML GRID.h5 [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: scripts/check-identical.sh OLD_IRISML NEW_IRISML GRID.h5 [WORK_DIR]}
NEW=${2:?}
GRID=${3:?}
WORK=${4:-$(mktemp -d /tmp/irisml_identical.XXXXXX)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
C=$PWD/configs/small.ini
OLD=$(realpath "$OLD"); NEW=$(realpath "$NEW"); GRID=$(realpath "$GRID")
run() {  # run <binary> <dir>: inside <dir>, relative paths, so both runs record the same names
  local bin=$1
  mkdir -p "$2"
  (
    cd "$2"
    mpirun -np 2 "$bin" simulate --config $C --grid "$GRID" --stars 20000 --output train.h5 --quiet --overwrite
    mpirun -np 2 "$bin" simulate --config $C --grid "$GRID" --stars 300 --seed 2 --output test.h5 --quiet --overwrite
    mpirun -np 2 "$bin" train --config $C --data train.h5 --output-dir run --max-steps 40 --threads 1 --overwrite \
      > train.log 2>&1
    "$bin" catalog make --config $C --from test.h5 --output catalog.h5 --quiet --overwrite
    "$bin" catalog make --config $C --from test.h5 --output catalog6.h5 --stars 6 --quiet --overwrite
    mpirun -np 2 "$bin" sample --config $C --model run/checkpoint.h5 --catalog catalog.h5 --grid "$GRID" \
      --output posterior.h5 --keep-samples --importance --block-rows 64 --threads 1 --quiet --overwrite
    mpirun -np 2 "$bin" fit --model run/checkpoint.h5 --catalog catalog6.h5 --grid "$GRID" --output reference.h5 \
      --proposals 1024 --max-rounds 2 --threads 1 --quiet --overwrite
    "$bin" evaluate --posterior posterior.h5 --truth catalog.h5 --report report --overwrite > evaluate.txt
  )
}
run "$OLD" "$WORK/old"
run "$NEW" "$WORK/new"
status=0
for f in train.h5 test.h5 run/checkpoint.h5 run/best.h5 catalog.h5 catalog6.h5 posterior.h5 reference.h5 report/metrics.json evaluate.txt; do
  if cmp -s "$WORK/old/$f" "$WORK/new/$f"; then
    echo "identical  $f"
  else
    echo "DIFFERENT  $f"
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-identical: all outputs identical ($WORK)" || echo "check-identical: outputs differ ($WORK)"
exit $status
