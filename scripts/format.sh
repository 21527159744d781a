#!/usr/bin/env bash
# The project's C++ formatting (.clang-format: Google style, 120 columns; the
# Boost.Program_options tables are fenced with `// clang-format off/on`).
#   scripts/format.sh           reformat every tracked C++ file in place
#   scripts/format.sh --check   list the files that differ and exit 1 (ctest `format`)
# Formatting depends on the clang-format version: the tree is kept in clang-format 14's
# output (Debian 12). With another major version --check exits 77 (skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || { echo "format: $CLANG_FORMAT not found (Debian: clang-format)"; exit 77; }
version=$("$CLANG_FORMAT" --version | grep -o 'version [0-9]*' | grep -o '[0-9]*$')
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = --check ]; then
  [ "$version" = 14 ] || { echo "format: clang-format $version, the tree is kept in version 14's output; skipped"; exit 77; }
  bad=()
  for f in "${files[@]}"; do
    "$CLANG_FORMAT" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'format: not formatted: %s\n' "${bad[@]}"
    echo "format: run scripts/format.sh to fix (${#bad[@]} file(s))"
    exit 1
  fi
  echo "format: ${#files[@]} files formatted"
  exit 0
fi
"$CLANG_FORMAT" -i --style=file "${files[@]}"
