#!/usr/bin/env bash
# jobs/reprocess.sh with a stub sbatch that records its arguments (issue 26 item 4): an
# output directory with a quote and a space still gives the manifest job a --wrap command
# that a POSIX shell splits into exactly the intended words, and an input whose name holds
# a line break is refused before anything is written or submitted.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/irisml_reprocess_quoting.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/in"
cat > "$work/bin/sbatch" <<'STUB'
#!/usr/bin/env bash
# records each call's arguments, NUL-separated, one file per call; prints a job id
n=$(ls "$SBATCH_LOG" 2>/dev/null | wc -l)
printf '%s\0' "$@" > "$SBATCH_LOG/call$n"
echo $((1000 + n))
STUB
chmod +x "$work/bin/sbatch"
printf '#!/bin/sh\nfor a in "$@"; do printf "[%%s]\\n" "$a"; done\n' > "$work/bin/showargs"
chmod +x "$work/bin/showargs"
mkdir -p "$work/log"
echo "Gaia_G,Gaia_G_err" > "$work/in/a.csv"
out="$work/it's a dir"
PATH="$work/bin:$PATH" SBATCH_LOG="$work/log" IRISML="$work/bin/showargs" \
  "$root/jobs/reprocess.sh" "$out" "$work/in" > "$work/stdout"
# the manifest call: find its --wrap argument
wrap=""
prev=""
while IFS= read -r -d '' arg; do
  if [ "$prev" = "--wrap" ]; then wrap=$arg; fi
  prev=$arg
done < <(cat "$work/log/call1"; printf 'end\0')
[ -n "$wrap" ] || { echo "FAIL: no --wrap in the manifest submission"; exit 1; }
# run it as SLURM does (sh -c) with IRISML=showargs: each word on its own line
words=$(sh -c "$wrap")
expected=$(printf '[%s]\n' manifest --plan "$out/plan.tsv" --output "$out/manifest.tsv")
if [ "$words" != "$expected" ]; then
  echo "FAIL: --wrap splits into"; echo "$words"; echo "expected"; echo "$expected"; exit 1
fi
# a line break in an input name: refused, nothing written, nothing submitted
rm -rf "$work/log"/*
mkdir -p "$work/in2"
touch "$work/in2/bad"$'\n'"name.csv"
if PATH="$work/bin:$PATH" SBATCH_LOG="$work/log" "$root/jobs/reprocess.sh" "$work/out2" "$work/in2" 2> "$work/err"; then
  echo "FAIL: a name with a line break was accepted"; exit 1
fi
grep -q "line break" "$work/err" || { echo "FAIL: no message naming the line break:"; cat "$work/err"; exit 1; }
[ -z "$(ls "$work/log")" ] || { echo "FAIL: something was submitted"; exit 1; }
[ ! -e "$work/out2/plan.tsv" ] || { echo "FAIL: a plan was written"; exit 1; }
echo "reprocess quoting: 2 passed, 0 failed"
