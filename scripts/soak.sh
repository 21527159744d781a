#!/usr/bin/env bash
# Soak test (not in CI; result in docs/benchmarks.md): sample, fit and train are interrupted
# at random — kill -9 of one rank, or SIGUSR1 to mpirun (a SLURM preemption) — and rerun
# with the same command each time until they finish. The final outputs must equal those of
# an uninterrupted run (sample and fit: the same bytes; train: every parameter and optimiser
# tensor bitwise equal), with no .partial, .progress or .lock left behind.
#
#   scripts/soak.sh                       # 10^6 stars sampled (20 cuts), 10^4 fitted (10), train (10)
#                                         # (fit with 512 proposals: resume is under test, not accuracy)
#   STARS=100000 FIT_STARS=1000 scripts/soak.sh   # a quicker pass
#
# Settings (environment): OUT (/tmp/irisml-soak), RANKS (2), STARS (1000000), FIT_STARS
# (10000), SAMPLE_CUTS (20), FIT_CUTS (10), TRAIN_CUTS (10), TRAIN_STEPS (1500), SEED (1:
# the interruption schedule), IRISML, PYTHON (/usr/bin/python3 with h5py, for train).
# Exit 0 when every check holds; the summary lines say what was compared.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
IRISML=${IRISML:-$PWD/build/src/cli/irisml}
OUT=${OUT:-/tmp/irisml-soak}
RANKS=${RANKS:-2}
STARS=${STARS:-1000000}
FIT_STARS=${FIT_STARS:-10000}
SAMPLE_CUTS=${SAMPLE_CUTS:-20}
FIT_CUTS=${FIT_CUTS:-10}
TRAIN_CUTS=${TRAIN_CUTS:-10}
TRAIN_STEPS=${TRAIN_STEPS:-1500}
PYTHON=${PYTHON:-/usr/bin/python3}
RANDOM=${SEED:-1}
CONFIG=configs/small.ini
mkdir -p "$OUT"
failures=0
note() { echo "soak: $*"; }
fail() { echo "soak: FAILED: $*"; failures=$((failures + 1)); }

# Seconds of wall time of a command.
timed() {
  local t0
  t0=$(date +%s.%N)
  "$@"
  echo "$(date +%s.%N) - $t0" | bc
}

# interrupt NAME CUTS LO HI -- COMMAND...: runs `mpirun -np RANKS COMMAND` again and again
# until it exits 0; the first CUTS runs are each interrupted after a random LO..HI seconds,
# half by kill -9 of one rank, half by SIGUSR1 to mpirun. HI − LO is the uninterrupted
# run's time / CUTS (the process start, ~4 s, is LO), so the cuts land before the work is
# done. Exit 2 (bad input) is fatal; so is a run that finished before all cuts landed.
interrupt() {
  local name=$1 cuts=$2 lo=$3 hi=$4
  shift 5
  local attempt=0 cut=0 kills=0 usr1=0 rc t0
  t0=$(date +%s)
  while :; do
    mpirun -np "$RANKS" "$@" >"$OUT/$name.attempt$attempt.log" 2>&1 &
    local pid=$!
    if ((cut < cuts)); then
      local tenths=$((lo * 10 + RANDOM % ((hi - lo) * 10 + 1)))
      sleep "$((tenths / 10)).$((tenths % 10))"
      if kill -0 "$pid" 2>/dev/null; then
        if ((RANDOM % 2)); then
          local ranks
          mapfile -t ranks < <(pgrep -P "$pid" -f irisml || true)
          if ((${#ranks[@]} > 0)); then
            kill -9 "${ranks[RANDOM % ${#ranks[@]}]}" 2>/dev/null || true
            kills=$((kills + 1))
            cut=$((cut + 1))
          fi
        else
          kill -USR1 "$pid" 2>/dev/null || true
          usr1=$((usr1 + 1))
          cut=$((cut + 1))
        fi
      fi
    fi
    set +e
    wait "$pid"
    rc=$?
    set -e
    attempt=$((attempt + 1))
    [ "$rc" -eq 0 ] && break
    if [ "$rc" -eq 2 ] || ((attempt > cuts + 100)); then
      fail "$name: attempt $attempt exited $rc (log $OUT/$name.attempt$((attempt - 1)).log)"
      tail -5 "$OUT/$name.attempt$((attempt - 1)).log"
      return 1
    fi
  done
  note "$name: finished after $attempt runs: $kills kill -9 of a rank, $usr1 SIGUSR1, $(($(date +%s) - t0)) s wall"
  ((cut >= cuts)) || fail "$name: only $cut of $cuts interruptions landed before the run finished"
}

leftovers() {
  local f
  for f in "$1.partial" "$1.progress" "$1.lock"; do
    [ -e "$f" ] && fail "left behind: $f"
  done
  return 0
}

# ---- inputs: grid, a training set, a model, catalogues ----
[ -f "$OUT/ck04.h5" ] || "$IRISML" grid import --quiet --output "$OUT/ck04.h5"
[ -f "$OUT/train.h5" ] || mpirun -np "$RANKS" "$IRISML" simulate --quiet --config "$CONFIG" --grid "$OUT/ck04.h5" \
  --output "$OUT/train.h5" --stars 20000
[ -f "$OUT/test.h5" ] || mpirun -np "$RANKS" "$IRISML" simulate --quiet --config "$CONFIG" --grid "$OUT/ck04.h5" \
  --output "$OUT/test.h5" --stars "$STARS" --seed 2
[ -f "$OUT/catalog.h5" ] || "$IRISML" catalog make --quiet --config "$CONFIG" --from "$OUT/test.h5" \
  --output "$OUT/catalog.h5"
[ -f "$OUT/fitcat.h5" ] || "$IRISML" catalog make --quiet --config "$CONFIG" --from "$OUT/test.h5" \
  --output "$OUT/fitcat.h5" --stars "$FIT_STARS"

# ---- train ----
train=("$IRISML" train --quiet --config "$CONFIG" --data "$OUT/train.h5" --threads 1 --max-steps "$TRAIN_STEPS"
  --checkpoint-every 50)
if [ ! -f "$OUT/train_ref/checkpoint.h5" ]; then
  t=$(timed mpirun -np "$RANKS" "${train[@]}" --output-dir "$OUT/train_ref" --overwrite)
  note "train: uninterrupted $TRAIN_STEPS steps in $t s"
fi
rm -rf "$OUT/train_soak"
ref_s=$(grep -o '"elapsed_s":[0-9.]*' "$OUT/train_ref/train_log.jsonl" | tail -1 | cut -d: -f2)
interrupt train "$TRAIN_CUTS" 3 "$(printf '%.0f' "$(echo "5 + ${ref_s:-60} / $TRAIN_CUTS" | bc -l)")" -- \
  "${train[@]}" --output-dir "$OUT/train_soak" --resume-if-present
[ -e "$OUT/train_soak/train.lock" ] && fail "left behind: $OUT/train_soak/train.lock"
if "$PYTHON" - "$OUT/train_ref/checkpoint.h5" "$OUT/train_soak/checkpoint.h5" <<'EOF'; then
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
other = []
b.visit(lambda n: other.append(n) if isinstance(b[n], h5py.Dataset) else None)
differ = [n for n in names if n not in b or not np.array_equal(a[n][()], b[n][()])]
steps = (a.attrs["step"], b.attrs["step"])
print(f"soak: train: {len(names)} datasets compared, {len(differ)} differ, steps {steps[0]} / {steps[1]}")
sys.exit(0 if not differ and sorted(names) == sorted(other) and steps[0] == steps[1] else 1)
EOF
  note "train: parameters and optimiser state bitwise equal to the uninterrupted run"
else
  fail "train: the interrupted run's checkpoint differs"
fi
model="$OUT/train_ref/checkpoint.h5"

# same_bytes NAME CUTS WHAT -- COMMAND...: the catalogue job COMMAND (sample or fit) run once
# uninterrupted into NAME_ref.h5 (kept for later passes), then interrupted CUTS times into
# NAME_soak.h5; the two files must hold the same bytes.
same_bytes() {
  local name=$1 cuts=$2 what=$3 t
  shift 4
  if [ ! -f "$OUT/${name}_ref.h5" ]; then
    t=$(timed mpirun -np "$RANKS" "$@" --output "$OUT/${name}_ref.h5")
    echo "$t" >"$OUT/${name}_ref.seconds"
  fi
  t=$(cat "$OUT/${name}_ref.seconds")
  note "$name: uninterrupted $what in $t s"
  rm -f "$OUT/${name}_soak.h5"
  interrupt "$name" "$cuts" 3 "$(printf '%.0f' "$(echo "5 + $t / $cuts" | bc -l)")" -- "$@" \
    --output "$OUT/${name}_soak.h5"
  if cmp "$OUT/${name}_ref.h5" "$OUT/${name}_soak.h5"; then
    note "$name: byte-identical to the uninterrupted run"
  else
    fail "$name: the interrupted run's file differs"
  fi
  leftovers "$OUT/${name}_soak.h5"
}

same_bytes sample "$SAMPLE_CUTS" "$STARS stars" -- "$IRISML" sample --quiet --model "$model" \
  --catalog "$OUT/catalog.h5" --threads 1 --no-ppc --block-rows 8192
# 512 proposals instead of 4,096: resuming is under test, not accuracy
same_bytes fit "$FIT_CUTS" "$FIT_STARS stars" -- "$IRISML" fit --quiet --catalog "$OUT/fitcat.h5" \
  --grid "$OUT/ck04.h5" --threads 1 --samples 16 --proposals 512

if ((failures)); then
  note "$failures check(s) failed"
  exit 1
fi
note "all checks passed"
