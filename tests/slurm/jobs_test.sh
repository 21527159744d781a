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
#     requeued resumes from its last complete checkpoint to the same final bytes;
#  4. jobs/reprocess.sh: an array job over 10 catalogue files (plain, gzipped and gzipped-ECSV
#     CSV, HDF5), one a truncated download: the corrupt one is reported in the manifest and
#     never blocks the others; a preempted task resumes to identical bytes; after the file is
#     fixed, a resubmission skips the finished outputs and completes the manifest.
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

echo "== 4. jobs/reprocess.sh: an array job over 10 catalogue files (CSV, gzipped CSV, gzipped ECSV, HDF5), one corrupt"
IN=$W/survey; mkdir -p "$IN"
real=tests/data/real_stars/real_stars.csv
grep -v '^#' $real | tail -n +2 > "$W/rows"
split -n l/9 -d "$W/rows" "$W/part"
header=$(grep -m1 -v '^#' "$real")  # no pipe into head: with pipefail its early exit can SIGPIPE grep
i=0
for p in "$W"/part*; do
  { echo "$header"; cat "$p"; } > "$IN/gbs_$i.csv"
  i=$((i + 1))
done
gzip "$IN/gbs_1.csv" "$IN/gbs_4.csv"
# gbs_2 as the Gaia archive's bulk export writes it: ECSV, null for missing values, gzipped, named .csv.gz
n2=$(( $(wc -l < "$IN/gbs_2.csv") - 1 ))
{ echo "# %ECSV 1.0"; echo "# ---"; echo "# delimiter: ','"; echo "# datatype:"
  echo "$header" | tr ',' '\n' | sed 's/^/# - {name: /; s/$/, datatype: float64}/'
  sed 's/,,/,null,/g; s/,,/,null,/g; s/,$/,null/' "$IN/gbs_2.csv"; } | gzip > "$IN/gbs_2.csv.gz"
rm "$IN/gbs_2.csv"
gzip -c "$IN/gbs_3.csv" > "$W/gbs_3.good.gz"; rm "$IN/gbs_3.csv"
head -c 300 "$W/gbs_3.good.gz" > "$IN/gbs_3.csv.gz"   # a truncated download
# the file list: the 9 survey files and the 20000-star HDF5 catalogue of stage 3 (preempted mid-file)
{ echo "# reprocessing test inputs"; echo "$W/big_cat.h5"; ls "$IN"/*; } > "$W/inputs.txt"
reprocess() {
  IRISML=$IRISML CONFIG=$C MODEL=$W/run/checkpoint.h5 GRID=$GRID FILES_PER_TASK=2 MAX_RUNNING=2 \
    SAMPLE_ARGS="${S_ARGS[*]}" jobs/reprocess.sh "$W/post" "$W/inputs.txt" "${common[@]}" --output="$W/rp-%A_%a.out"
}
# release a requeued job at once (SLURM otherwise holds it ~2 min)
release() { scontrol update JobId="$1" StartTime=now >/dev/null 2>&1 || true; }
out=$(reprocess); echo "$out"
read -r array manifest <<<"$(echo "$out" | awk '{print $8, $11}')"
for _ in $(seq 300); do grep -q "^done .*1" "$W/post/big_cat.post.h5.progress" 2>/dev/null && break; sleep 1; done
grep -q "^done .*1" "$W/post/big_cat.post.h5.progress" || fail "array task ${array}_0 finished no block of big_cat.h5"
scancel --signal=USR1 "${array}_0" || true   # (may report "can not be altered" while the step is signalled)
for _ in $(seq 120); do
  scontrol show job "${array}_0" | grep -q "Restarts=[1-9]" && { release "${array}_0"; break; }
  sleep 1
done
state=$(wait_job "$manifest" 900)
[ "$state" = FAILED ] || fail "manifest job $manifest ended $state (expected FAILED: one input is corrupt)"
cat "$W/post/manifest.tsv"
ok=$(awk -F'\t' '$3 == "ok"' "$W/post/manifest.tsv" | wc -l)
[ "$ok" -eq 9 ] || fail "manifest: $ok inputs ok, expected 9"
grep -P "^$IN/gbs_3.csv.gz\t.*\tfailed\t.*gzip stream is corrupt or truncated" "$W/post/manifest.tsv" >/dev/null ||
  fail "the corrupt input is not reported failed with its reason"
grep -P "^$IN/gbs_2.csv.gz\t.*\tok\t$n2\t" "$W/post/manifest.tsv" >/dev/null || fail "the gzipped ECSV file was not sampled whole"
grep -P "^attempt\t3\t" "$W/post/big_cat.post.h5.status" >/dev/null || fail "big_cat.h5 was not interrupted (exit 3)"
grep -q "resuming" "$W/post/big_cat.post.h5.log" || fail "big_cat.h5 did not resume"
cmp "$W/post/big_cat.post.h5" "$W/sref.h5" || fail "the preempted array task's posterior differs from the uninterrupted run"
restarts=$(scontrol show job "${array}_0" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
echo "array $array: task 0 Restarts=$restarts, big_cat.h5 resumed to identical bytes; gbs_3.csv.gz reported corrupt"
# the user fixes the file and resubmits: finished outputs are skipped, only gbs_3 is sampled
cp "$W/gbs_3.good.gz" "$IN/gbs_3.csv.gz"
before=$(md5sum "$W"/post/*.post.h5 | sort)
out=$(reprocess); echo "$out"
read -r array manifest <<<"$(echo "$out" | awk '{print $8, $11}')"
state=$(wait_job "$manifest" 600)
[ "$state" = COMPLETED ] || fail "second manifest job $manifest ended $state"
cat "$W/post/manifest.tsv"
[ "$(awk -F'\t' '$3 == "ok"' "$W/post/manifest.tsv" | wc -l)" -eq 10 ] || fail "not all 10 inputs ok after the fix"
[ "$(grep -h "complete, skipped" "$W"/rp-"$array"_*.out | wc -l)" -eq 9 ] || fail "resubmission did not skip the 9 finished inputs"
after=$(md5sum "$W"/post/*.post.h5 | grep -v gbs_3 | sort)
[ "$(echo "$before" | grep -v gbs_3)" = "$after" ] || fail "resubmission changed finished outputs"
echo "resubmitted as array $array: 9 finished inputs skipped, the fixed one sampled; manifest complete"
echo "PASS"
rm -rf "$W"
