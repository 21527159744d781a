#!/usr/bin/env bash
# The job scripts under a live one-node SLURM cluster (scripts/slurm-local.sh):
#  1. srun --mpi=pmix -n 2 starts connected MPI ranks: `irisml simulate` under srun writes the
#     same bytes as under mpirun -np 2;
#  2. jobs/pipeline.sh submits jobs/simulate.sbatch -> jobs/train.sbatch (CPU, 2 ranks) ->
#     jobs/sample.sbatch -> evaluate on the small configuration, chained with --dependency=afterok;
#  3. preemption: jobs/train.sbatch and jobs/sample.sbatch receive the time-limit signal (USR1 to
#     their steps) mid-run, exit 3, requeue themselves, resume, and end with the same checkpoint
#     and posterior bytes as uninterrupted runs; a training job one of whose ranks is killed
#     (SIGKILL, a node-failure stand-in) ends promptly under srun --kill-on-bad-exit, and once
#     requeued resumes from its last complete checkpoint to the same final bytes.
# usage: tests/slurm/jobs_test.sh IRISML GRID.h5   (exit 77 = skipped: no SLURM installed)
set -euo pipefail
cd "$(dirname "$0")/../.."
IRISML=$(realpath "${1:?usage: jobs_test.sh IRISML GRID.h5}")
GRID=$(realpath "${2:?}")
command -v slurmctld >/dev/null && command -v munged >/dev/null || { echo "SKIP: slurm-wlm/munge not installed"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export IRISML_SLURM_DIR=${IRISML_SLURM_DIR:-/tmp/irisml-slurm-test}
eval "$(scripts/slurm-local.sh up)"
trap 'scripts/slurm-local.sh down' EXIT
W=$(mktemp -d /tmp/irisml_slurm.XXXXXX)
fail() { echo "FAIL: $*"; for f in "$W"/*.out; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done; exit 1; }
wait_job() {  # wait_job ID TIMEOUT_S: until the job leaves the queue; prints its final state
  local id=$1 t=0
  while squeue -h -j "$id" 2>/dev/null | grep -q .; do
    sleep 2; t=$((t + 2)); [ $t -lt "$2" ] || { scancel "$id"; fail "job $id still queued/running after $2 s"; }
  done
  scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}
C=configs/small.ini

echo "== 1. srun --mpi=pmix -n 2 vs mpirun -np 2"
srun --mpi=pmix -n 2 "$IRISML" simulate --config $C --grid "$GRID" --stars 5000 --output "$W/srun.h5" --quiet
mpirun -np 2 "$IRISML" simulate --config $C --grid "$GRID" --stars 5000 --output "$W/mpirun.h5" --quiet
cmp "$W/srun.h5" "$W/mpirun.h5" || fail "srun and mpirun outputs differ"
echo "identical"

echo "== 2. jobs/pipeline.sh: simulate -> train -> sample -> evaluate as a dependency chain of batch jobs"
common=(--nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=00:20:00 --gpus-per-node=0)
chain=$(IRISML=$IRISML GRID=$GRID CONFIG=$C DATA_DIR=$W/data RUN=$W/run TEST_STARS=300 DEVICE=cpu \
        SIMULATE_ARGS="--stars 20000" TRAIN_ARGS="--max-steps 60 --log-every 20" SAMPLE_ARGS="--block-rows 64" \
        jobs/pipeline.sh "${common[@]}" --output="$W/%x-%j.out")
echo "$chain"
read -r sim train sample evaluate <<<"$(echo "$chain" | awk '{print $2, $5, $8, $11}')"
for job in "$sim" "$train" "$sample" "$evaluate"; do
  state=$(wait_job "$job" 600)
  [ "$state" = COMPLETED ] || { scancel "$sim" "$train" "$sample" "$evaluate" 2>/dev/null; fail "job $job ended $state"; }
done
[ -f "$W/data/posterior.h5" ] && [ -f "$W/data/report/metrics.json" ] || fail "the chain left no posterior or report"
grep -q "2 rank(s)" "$W"/irisml-train-*.out || fail "training did not run on 2 ranks"
echo "chain $sim -> $train -> $sample -> $evaluate completed"

echo "== 3. preemption of train.sbatch and sample.sbatch: USR1 mid-run, exit 3, requeue, resume, identical result"
# A catalogue large enough that sampling it takes tens of seconds.
mpirun -np 2 "$IRISML" simulate --config $C --grid "$GRID" --stars 20000 --seed 3 --output "$W/big.h5" --quiet
"$IRISML" catalog make --config $C --from "$W/big.h5" --output "$W/big_cat.h5" --quiet
S_ARGS=(--block-rows 512 --keep-samples --importance)
pre=$(IRISML=$IRISML DEVICE=cpu CONFIG=$C DATA=$W/data/train.h5 RUN=$W/pre \
      sbatch --parsable --chdir="$PWD" "${common[@]}" --output="$W/pre-%j.out" jobs/train.sbatch --max-steps 400 \
      --log-every 100)
# the node-failure stand-in: the same training, one rank killed with SIGKILL
crash=$(IRISML=$IRISML DEVICE=cpu CONFIG=$C DATA=$W/data/train.h5 RUN=$W/crash \
        sbatch --parsable --chdir="$PWD" "${common[@]}" --output="$W/crash-%j.out" jobs/train.sbatch --max-steps 400 \
        --log-every 100)
spre=$(IRISML=$IRISML CONFIG=$C MODEL=$W/run/checkpoint.h5 CATALOG=$W/big_cat.h5 OUT=$W/spre.h5 GRID=$GRID \
       sbatch --parsable --chdir="$PWD" "${common[@]}" --output="$W/spre-%j.out" jobs/sample.sbatch "${S_ARGS[@]}")
for _ in $(seq 300); do grep -q "step 100/400" "$W"/pre-*.out 2>/dev/null && break; sleep 1; done
grep -q "step 100/400" "$W"/pre-*.out || fail "preemption job $pre did not reach step 100"
scancel --signal=USR1 "$pre"     # to the job's steps, as --signal=USR1@120 does at the time limit
for _ in $(seq 300); do grep -q "step 100/400" "$W"/crash-*.out 2>/dev/null && break; sleep 1; done
grep -q "step 100/400" "$W"/crash-*.out || fail "crash job $crash did not reach step 100"
victim=""  # one rank of that job: an irisml process (not srun) with its run directory
for p in $(pgrep -f -- "--output-dir $W/crash" || true); do
  if [ "$(ps -o comm= -p "$p" 2>/dev/null || true)" = irisml ]; then victim=$p; break; fi
done
[ -n "$victim" ] || fail "no irisml rank of job $crash found"
killed_at=$(date +%s)
kill -9 "$victim"
state=$(wait_job "$crash" 120)
ended_in=$(( $(date +%s) - killed_at ))
[ "$state" = FAILED ] || fail "crash job $crash ended $state after a rank was killed"
[ $ended_in -le 60 ] || fail "crash job $crash took $ended_in s to end after a rank was killed"
echo "job $crash: one rank killed (SIGKILL), step and job ended in ${ended_in} s ($state); requeued as after a node failure"
scontrol requeue "$crash"
for _ in $(seq 300); do grep -q "^done .*1" "$W/spre.h5.progress" 2>/dev/null && break; sleep 1; done
grep -q "^done .*1" "$W/spre.h5.progress" || fail "sampling job $spre finished no block"
scancel --signal=USR1 "$spre"
# the uninterrupted references, while SLURM holds the requeued jobs (~2 min BeginTime)
mpirun -np 2 "$IRISML" train --config $C --data "$W/data/train.h5" --output-dir "$W/ref" --max-steps 400 \
  --log-every 100 --threads 1 > "$W/ref.log" 2>&1
mpirun -np 2 "$IRISML" sample --config $C --model "$W/run/checkpoint.h5" --catalog "$W/big_cat.h5" --grid "$GRID" \
  --output "$W/sref.h5" --threads 1 --quiet "${S_ARGS[@]}"
for job in "$pre" "$spre" "$crash"; do
  state=$(wait_job "$job" 900); [ "$state" = COMPLETED ] || fail "preempted job $job ended $state"
  restarts=$(scontrol show job "$job" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
  [ "${restarts:-0}" -ge 1 ] || fail "job $job was not requeued (Restarts=$restarts)"
  echo "job $job: Restarts=$restarts"
done
grep -q "interrupted after writing" "$W"/pre-*.out || fail "job $pre was not interrupted"
grep -q "resuming" "$W"/pre-*.out || fail "job $pre did not resume"
cmp "$W/pre/checkpoint.h5" "$W/ref/checkpoint.h5" || fail "resumed checkpoint differs from the uninterrupted run"
grep -q "interrupted; finished blocks are kept" "$W"/spre-*.out || fail "job $spre was not interrupted"
grep -q "resuming" "$W"/spre-*.out || fail "job $spre did not resume"
cmp "$W/spre.h5" "$W/sref.h5" || fail "resumed posterior file differs from the uninterrupted run"
grep -Eq "resuming at step (74|148|222) " "$W"/crash-*.out ||
  fail "job $crash did not resume from a complete checkpoint (an epoch end: step 74, 148 or 222)"
cmp "$W/crash/checkpoint.h5" "$W/ref/checkpoint.h5" || fail "the crashed and resumed run differs from the uninterrupted run"
echo "train job $pre, sample job $spre and crashed job $crash: requeued, resumed, outputs identical to uninterrupted runs"
echo "PASS"
