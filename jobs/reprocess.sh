#!/usr/bin/env bash
# Reprocess a whole survey catalogue split over many files (the Gaia bulk export's
# thousands of gzipped ECSV files, HEALPix-partitioned FITS or HDF5): one SLURM array job
# samples every file to its own posterior file, then a manifest job checks every output.
# Run from the repository root on a login node; prints the job ids.
#   jobs/reprocess.sh OUT_DIR INPUTS [sbatch options...]
#     INPUTS: a directory (files matching $GLOB, default '*') or a text file listing one
#     catalogue path per line.
#   MODEL=run/paper/best.h5 FILES_PER_TASK=4 GLOB='*.csv.gz' \
#     jobs/reprocess.sh post/ /data/gaia/gaia_source --ntasks-per-node=16 --cpus-per-task=2
# Environment: IRISML, CONFIG, MODEL, GRID, IRISML_SRUN_MPI as jobs/sample.sbatch reads
# them; FILES_PER_TASK (inputs per array task, default 1); MAX_RUNNING (array tasks at
# once, default 64); SAMPLE_ARGS (extra `irisml sample` arguments for every file).
#
# OUT_DIR/plan.tsv lists input -> output (OUT_DIR/<name without .gz and extension>.post.h5).
# Each output appears only once complete, so running this again with the same inputs
# skips finished files, resumes interrupted ones and retries failed ones: after fixing a
# corrupt input, resubmit. OUT_DIR/manifest.tsv (`irisml manifest`) gives per input the
# status (ok | partial | failed | missing), stars, flag counts and wall time; the manifest
# job fails unless every input is ok. docs/reprocessing.md has the details.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:?usage: jobs/reprocess.sh OUT_DIR INPUTS [sbatch options...]}
INPUTS=${2:?usage: jobs/reprocess.sh OUT_DIR INPUTS [sbatch options...]}
shift 2
export IRISML=${IRISML:-build/src/cli/irisml}
export FILES_PER_TASK=${FILES_PER_TASK:-1}
MAX_RUNNING=${MAX_RUNNING:-64}
GLOB=${GLOB:-*}
[[ "$FILES_PER_TASK" =~ ^[1-9][0-9]*$ ]] || { echo "reprocess: FILES_PER_TASK='$FILES_PER_TASK' must be a positive integer" >&2; exit 2; }
[[ "$MAX_RUNNING" =~ ^[1-9][0-9]*$ ]] || { echo "reprocess: MAX_RUNNING='$MAX_RUNNING' must be a positive integer" >&2; exit 2; }

files=()
if [ -d "$INPUTS" ]; then
  while IFS= read -r -d '' f; do files+=("$(realpath "$f")"); done \
    < <(find "$INPUTS" -maxdepth 1 -type f -name "$GLOB" -print0 | sort -z)
elif [ -f "$INPUTS" ]; then
  while IFS= read -r f || [ -n "$f" ]; do
    f=${f%$'\r'}
    [ -z "$f" ] || [ "${f:0:1}" = "#" ] && continue
    [ -f "$f" ] || { echo "reprocess: '$f' (listed in $INPUTS) does not exist" >&2; exit 2; }
    files+=("$(realpath "$f")")
  done < "$INPUTS"
else
  echo "reprocess: INPUTS '$INPUTS' is neither a directory nor a file list" >&2; exit 2
fi
[ ${#files[@]} -gt 0 ] || { echo "reprocess: no input in '$INPUTS' (GLOB '$GLOB')" >&2; exit 2; }
# plan.tsv holds one input<TAB>output per line: a name with a tab or a line break cannot
# be written there. Refused before anything is written or submitted.
for f in "${files[@]}" "$OUT_DIR"; do
  if [[ "$f" == *$'\t'* || "$f" == *$'\n'* || "$f" == *$'\r'* ]]; then
    printf 'reprocess: the path %q holds a tab or a line break, which plan.tsv cannot hold; rename it\n' "$f" >&2
    exit 2
  fi
done

mkdir -p "$OUT_DIR"
OUT_DIR=$(realpath "$OUT_DIR")
plan="$OUT_DIR/plan.tsv"
declare -A seen=()
{
  echo "# input<TAB>output, written by jobs/reprocess.sh $(date -Is)"
  for f in "${files[@]}"; do
    name=$(basename "$f"); name=${name%.gz}; name=${name%.*}
    out="$OUT_DIR/$name.post.h5"
    if [ -n "${seen[$out]:-}" ]; then
      echo "reprocess: '$f' and '${seen[$out]}' would both write '$out'; give inputs distinct file names" >&2
      exit 2
    fi
    seen[$out]=$f
    printf '%s\t%s\n' "$f" "$out"
  done
} > "$plan.tmp"
mv "$plan.tmp" "$plan"

n=${#files[@]}
tasks=$(( (n + FILES_PER_TASK - 1) / FILES_PER_TASK ))
submit() { sbatch --parsable --chdir="$PWD" "$@"; }
# shellcheck disable=SC2086 # SAMPLE_ARGS is a word list
array=$(PLAN=$plan submit --array=0-$((tasks - 1))%"$MAX_RUNNING" "$@" jobs/reprocess.sbatch ${SAMPLE_ARGS:-})
# --wrap takes one shell command line: every word quoted (printf %q: backslash escapes that
# any POSIX shell reads back, since tabs and line breaks were refused above), so a quote
# or a space in a path cannot split it differently.
wrap=$(printf '%q ' "$IRISML" manifest --plan "$plan" --output "$OUT_DIR/manifest.tsv")
manifest=$(submit --job-name=irisml-manifest --ntasks=1 --output="$OUT_DIR/manifest-%j.out" "$@" \
  --dependency=afterany:"$array" --wrap "$wrap")
echo "$n input(s) in $tasks array task(s): array $array -> manifest $manifest ($OUT_DIR/manifest.tsv)"
