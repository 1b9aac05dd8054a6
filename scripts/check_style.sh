#!/usr/bin/env bash
# The style the build enforces (issue #12, docs/ARCHITECTURE.md):
#   1. clang-format (.clang-format: Google, 100 columns) on every C++ and CUDA source: any
#      change it would make is an error (fix: scripts/check_style.sh --fix).
#   2. clang-tidy (.clang-tidy) on the .cc files changed by a git range (default: the last
#      commit, HEAD~1..HEAD), against BUILD_DIR's compile_commands.json (default build/).
# Usage: scripts/check_style.sh [--fix] [--range A..B]
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
range="HEAD~1..HEAD"
while (($#)); do
  case "$1" in
    --fix) fix=1 ;;
    --range) range="$2"; shift ;;
    *) echo "usage: scripts/check_style.sh [--fix] [--range A..B]" >&2; exit 2 ;;
  esac
  shift
done
build_dir="${BUILD_DIR:-build}"

mapfile -t sources < <(git ls-files 'host/*.cc' 'host/*.h' 'host/*.cu' 'host/*.cuh' 'include/*.h' 'kernels/*.cu' \
  'kernels/*.cuh' 'kernels/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'bench/*.cu' 'python_bindings/src/*.cc' \
  'python_bindings/src/*.h')
if ((fix)); then
  clang-format -i "${sources[@]}"
  echo "check_style: formatted ${#sources[@]} files"
  exit 0
fi
if ! clang-format --dry-run --Werror "${sources[@]}" 2> /tmp/fedguard_clang_format.log; then
  grep -E '^[^ ].*(warning|error):' /tmp/fedguard_clang_format.log | head -20
  echo "check_style: clang-format would change the files above (scripts/check_style.sh --fix)" >&2
  exit 1
fi
echo "check_style: clang-format clean (${#sources[@]} files)"

# clang-tidy: changed translation units that the build compiles (headers are checked through
# them: HeaderFilterRegex). A range that git cannot resolve (a shallow clone) checks nothing.
if ! git rev-parse --verify -q "${range%%..*}" > /dev/null; then
  echo "check_style: clang-tidy skipped: $range is not in this clone"
  exit 0
fi
[ -f "$build_dir/compile_commands.json" ] || { echo "check_style: no $build_dir/compile_commands.json" >&2; exit 1; }
mapfile -t changed < <(git diff --name-only --diff-filter=AM "$range" -- 'host/*.cc' 'python_bindings/src/*.cc' |
  while read -r f; do grep -q "\"file\": \"$PWD/$f\"" "$build_dir/compile_commands.json" && echo "$f"; done)
if ((${#changed[@]} == 0)); then
  echo "check_style: clang-tidy: no compiled .cc file changed in $range"
  exit 0
fi
printf '%s\n' "${changed[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy -p "$build_dir" --quiet
echo "check_style: clang-tidy clean on ${#changed[@]} changed files ($range)"
