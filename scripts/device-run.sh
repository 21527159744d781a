#!/usr/bin/env bash
# The GPU check as one script, for one call on the accelerator machine (docs/results/quality.md,
# docs/benchmarks.md, 2026-11-30): CUDA build of irisml, `bench train` on the GPU, the paper-size
# model trained on one GPU for whatever is left of a fixed wall-clock budget, then the trained
# model sampled (flow + --importance) on the quality catalogues, and `bench train` on the CPUs.
# Inputs, staged beside the build dependencies by ../shared/device/prepare.sh in .device/:
#   .device/ck04.h5 (irisml grid import), .device/data/{filters,vega,extinction},
#   .device/cat500.h5 and .device/od300.h5 (catalogues whose exact reference was fitted here).
# Outputs under $OUT: run.log, train_log.jsonl, p500.h5, p500r4.h5, od300.h5, real.h5.
# On the device: LIMIT=560 bash scripts/device-run.sh (SKIPBUILD=1 reuses .device/build).
# Dry run here on the CPU: OUT=/tmp/devout LOCAL=1 LIMIT=200 RESERVE=100 STARS=20000 BSTEPS=2 bash scripts/device-run.sh
set -uo pipefail
T0=$(date +%s)
el() { echo $(($(date +%s) - T0)); }
LIMIT=${LIMIT:-560}     # seconds this script may use in all
OUT=${OUT:?}
exec > >(tee -a "$OUT/run.log") 2>&1
say() { echo "[$(el) s] $*"; }
NP=${NP:-16}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
if [ -z "${LOCAL:-}" ]; then
  source .device/gpu-env.sh
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  lscpu | grep -E "Model name|^CPU\(s\)"
  lscpu | grep -o -E "avx512_bf16|amx_bf16|avx512f " | sort -u | tr '\n' ' '; echo
  B=.device/build
  say configure
  cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DIRISML_WITH_CUDA=ON -DIRISML_WITH_FITS=OFF \
    -DIRISML_BUILD_TESTS=OFF >"$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
  rm -f "$OUT/configure.log"
  say build
  [ -x $B/src/cli/irisml ] && [ -n "${SKIPBUILD:-}" ] || timeout 330 cmake --build $B --target irisml -- -k >"$OUT/build.log" 2>&1
  brc=$?
  if [ $brc -ne 0 ]; then
    say "build failed rc=$brc"
    grep -n -A8 -E "error|Error" "$OUT/build.log" | head -300
    exit 1
  fi
  rm -f "$OUT/build.log"
  IR=$B/src/cli/irisml
  DEV=cuda
else
  IR=build/src/cli/irisml
  DEV=cpu
  NP=2
fi
say "built: $IR"
G=.device/ck04.h5
DD=.device/data
W=.device/work
rm -rf $W && mkdir -p $W
STARS=${STARS:-1500000}

say "bench train ($DEV, paper size, batch 512)"
$IR bench train --config configs/paper.ini --device $DEV --batch 512 --steps ${BSTEPS:-40} --warmup 10 --n-filters 28 --min-bands 6 --max-bands 28 2>&1 | tee $W/bench.txt
step_s=$(grep -o 'median_step_s=[0-9.]*' $W/bench.txt | tail -1 | cut -d= -f2)
say "step_s=$step_s"

say "simulate $STARS stars (standard filters, paper prior) on $NP ranks"
mpirun -np $NP $IR simulate --config configs/paper.ini --filters standard --stars $STARS --grid $G --data-dir $DD \
  --output $W/train.h5 --quiet || { say "simulate failed"; exit 1; }
ls -la $W/train.h5

reserve=${RESERVE:-110}
budget=$((LIMIT - $(el) - reserve))
steps=$(python3 -c "print(max(200, int($budget / ($step_s * 1.25))))")
warm=$((steps / 20))
say "train: budget $budget s -> max-steps $steps (warm-up $warm)"
[ -z "${LOCAL:-}" ] && { nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -l 10 > $W/gpu_util.txt 2>&1 & UPID=$!; }
timeout -s USR1 -k 30 $((budget + 20)) $IR train --config configs/paper.ini --data $W/train.h5 --output-dir $W/run \
  --data-dir $DD --device $DEV --threads 4 --max-steps $steps --warmup-steps $warm --log-every 500 --checkpoint-every 100000 --overwrite
say "train rc=$?"
[ -n "${UPID:-}" ] && { kill $UPID; echo "GPU utilisation, memory every 10 s:"; tr '\n' ';' < $W/gpu_util.txt; echo; }
cp $W/run/train_log.jsonl "$OUT/" 2>/dev/null
M=$W/run/checkpoint.h5
[ -f $M ] || { say "no checkpoint"; exit 1; }

S=(--config configs/paper.ini --model $M --grid $G --data-dir $DD --threads 1 --block-rows 32 --overwrite --quiet)
say "sample cat500 (importance)"
mpirun -np $NP $IR sample "${S[@]}" --catalog .device/cat500.h5 --output "$OUT/p500.h5" --keep-samples --importance
say "sample cat500 (importance, retry 4)"
mpirun -np $NP $IR sample "${S[@]}" --catalog .device/cat500.h5 --output "$OUT/p500r4.h5" --keep-samples --importance --retry-factor 4
say "sample od300 (importance)"
mpirun -np $NP $IR sample "${S[@]}" --catalog .device/od300.h5 --output "$OUT/od300.h5" --keep-samples --importance
say "sample real stars"
$IR sample "${S[@]}" --catalog tests/data/real_stars/real_stars.csv --output "$OUT/real.h5" --error-floor 0.02 \
  --importance --keep-samples --sir
if [ $(el) -lt $((LIMIT - 40)) ] && [ -z "${LOCAL:-}" ]; then
  say "bench train (cpu, 16 threads, paper size, batch 512)"
  timeout 40 $IR bench train --config configs/paper.ini --device cpu --threads 16 --batch 512 --steps 5 --warmup 1 --n-filters 28 --min-bands 6 --max-bands 28
fi
say done
