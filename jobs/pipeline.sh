#!/usr/bin/env bash
# The whole job as one SLURM dependency chain: simulate -> train -> catalogue + sample ->
# evaluate, each step starting only if the one before succeeded (--dependency=afterok).
# Run from the repository root on a login node; prints the job ids.
#   jobs/pipeline.sh                                   # paper configuration, data/ and run/paper
#   CONFIG=configs/small.ini DATA_DIR=small RUN=run/small TEST_STARS=2000 \
#     jobs/pipeline.sh --ntasks-per-node=2 --cpus-per-task=1    # sbatch options for every step
# Environment: IRISML, CONFIG, DATA_DIR, RUN, GRID, TEST_STARS, DEVICE/BACKEND (train), and
# IRISML_SRUN_MPI, as the job scripts read them; SIMULATE_ARGS, TRAIN_ARGS, SAMPLE_ARGS: extra
# arguments for that step's irisml command (e.g. TRAIN_ARGS="--epochs 200"). Extra arguments
# are sbatch options for all steps (a step's own #SBATCH lines give the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
export IRISML=${IRISML:-build/src/cli/irisml}
export CONFIG=${CONFIG:-configs/paper.ini}
export DATA_DIR=${DATA_DIR:-data}
export RUN=${RUN:-run/paper}
export GRID=${GRID:-$DATA_DIR/ck04.h5}
export TEST_STARS=${TEST_STARS:-300000}
submit() { sbatch --parsable --chdir="$PWD" "$@"; }
# shellcheck disable=SC2086 # the *_ARGS are word lists
sim=$(submit "$@" jobs/simulate.sbatch ${SIMULATE_ARGS:-})
train=$(DATA=$DATA_DIR/train.h5 submit "$@" --dependency=afterok:"$sim" jobs/train.sbatch ${TRAIN_ARGS:-})
# sample.sbatch makes the catalogue first (the simulated test set observed through [noise])
sample=$(MODEL=$RUN/checkpoint.h5 CATALOG=$DATA_DIR/catalog.h5 CATALOG_FROM=$DATA_DIR/test.h5 \
  OUT=$DATA_DIR/posterior.h5 submit "$@" --dependency=afterok:"$train" jobs/sample.sbatch ${SAMPLE_ARGS:-})
evaluate=$(submit --job-name=irisml-evaluate --output=%x-%j.out "$@" --dependency=afterok:"$sample" \
  --wrap "'$IRISML' evaluate --posterior '$DATA_DIR/posterior.h5' --truth '$DATA_DIR/catalog.h5' --report '$DATA_DIR/report' --overwrite")
echo "simulate $sim -> train $train -> sample $sample -> evaluate $evaluate"
