#!/usr/bin/env bash
# Real labelled stars (tests/data/real_stars: Gaia FGK benchmark stars, Gaia DR3 + 2MASS):
# samples them with a trained model (flow and importance-reweighted), fits the exact
# reference posterior, and prints Teff (4000-7000 K) / log g / [M/H] errors against the
# labels, 68 % HDI coverage, the median ESS/S and the distance error, for four star-
# constraint configurations: photometry only, + an A_V bound, + the Gaia parallax, both
# (docs/distance.md). usage: scripts/validate-real.sh MODEL.h5 [GRID] [OUT_DIR]
# Environment: IRISML (binary), ERROR_FLOOR (mag, default 0.02: the stars are bright and
# their quoted errors omit calibration errors), SIGMA_SYS (mag, default: the checkpoint's noise.sigma_sys),
# PRECISION (fp32 | bf16: the network's matrix products when sampling, default fp32),
# CALIBRATION (a per-band calibration file of `irisml calibrate`: with it ERROR_FLOOR
# defaults to 0 and the file's sigma_sys replace SIGMA_SYS; docs/observation_model.md),
# CONFIGS (which of photometry av parallax both, default all four),
# RETRY_FACTOR (sample's --retry-factor: stars below ESS/S 0.1 redrawn with that many
# times the proposals, default 0 = none),
# PYTHON (with h5py, numpy).
# Stars with fewer than 6 usable bands (the training minimum) are flagged and not scored.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MODEL=${1:?usage: scripts/validate-real.sh MODEL.h5 [GRID] [OUT_DIR]}
GRID=${2:-}
OUT=${3:-out/real}
IRISML=${IRISML:-build/src/cli/irisml}
cal=(); [ -n "${CALIBRATION:-}" ] && cal=(--calibration "$CALIBRATION")
retry=(--retry-factor "${RETRY_FACTOR:-0}")
FLOOR=${ERROR_FLOOR:-$([ -n "${CALIBRATION:-}" ] && echo 0 || echo 0.02)}
mkdir -p "$OUT"
DATA=tests/data/real_stars
grid=(); [ -n "$GRID" ] && grid=(--grid "$GRID")
sys=(); [ -n "${SIGMA_SYS:-}" ] && sys=(--sigma-sys "$SIGMA_SYS")
CONFIGS=${CONFIGS:-photometry av parallax both}
"${PYTHON:-python3}" scripts/validate-real.py configs "$DATA/real_stars.csv" "$OUT/catalogs"
scores=()
for c in $CONFIGS; do
  "$IRISML" sample --model "$MODEL" --catalog "$OUT/catalogs/$c.csv" "${grid[@]}" --output "$OUT/flow_$c.h5" \
      --precision "${PRECISION:-fp32}" --error-floor "$FLOOR" "${sys[@]}" "${cal[@]}" --importance "${retry[@]}" --keep-samples --sir \
      --overwrite --quiet
  "$IRISML" fit --model "$MODEL" --catalog "$OUT/catalogs/$c.csv" "${grid[@]}" --output "$OUT/reference_$c.h5" \
      --error-floor "$FLOOR" "${sys[@]}" "${cal[@]}" --bands-min 6 --overwrite --quiet
  scores+=("$c/flow=$OUT/flow_$c.h5" "$c/reweighted=$OUT/flow_$c.h5:importance" "$c/exact=$OUT/reference_$c.h5")
done
"${PYTHON:-python3}" scripts/validate-real.py "$DATA/real_stars_labels.csv" "${scores[@]}"
