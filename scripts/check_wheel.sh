#!/usr/bin/env bash
# Checks the wheel scripts/build_wheel.sh wrote (docs/python.md#the-wheel), as CI does:
#   1. installs it with `pip install --no-index` into a fresh virtual environment (timed);
#   2. `ldd` on the extension, the command line and every vendored library: each must resolve
#      to a file inside the wheel (fedguard.libs/) or to the base system manylinux allows
#      (glibc's libraries and loader, libstdc++, libgcc_s); anything else fails;
#   3. runs a round through Python and `fedguard demo` through the installed command line;
#   4. runs tests/python against the installed package (unless CHECK_WHEEL_TESTS=0).
# The venv sees the system's site-packages (--system-site-packages) only for numpy and the
# test dependencies bootstrap installed: nothing is downloaded, and fedguard itself is
# imported from the venv (checked: tests/python/conftest.py's FEDGUARD_EXPECT_BUILD_DIR).
# Usage: scripts/check_wheel.sh [WHEEL]   (default: the newest dist/fedguard-*.whl)
set -euo pipefail
cd "$(dirname "$0")/.."

wheel="${1:-$(ls -t dist/fedguard-*.whl 2>/dev/null | head -1)}"
[ -n "$wheel" ] && [ -f "$wheel" ] || { echo "check_wheel: no wheel (run scripts/build_wheel.sh)" >&2; exit 1; }
venv="${CHECK_WHEEL_VENV:-build-wheel/check-venv}"
rm -rf "$venv"
python3 -m venv --system-site-packages "$venv"
start=$(date +%s.%N)
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index "$wheel"
end=$(date +%s.%N)
printf 'check_wheel: installed %s in %s s (pip --no-index, load %s)\n' "$(basename "$wheel")" \
  "$(python3 -c "print(f'{$end - $start:.1f}')")" "$(cut -d' ' -f1-3 /proc/loadavg)"

pkg=$("$venv/bin/python" -c 'import fedguard, os; print(os.path.dirname(fedguard.__file__))')
site=$(realpath "$(dirname "$pkg")")
case "$pkg" in "$(cd "$venv" && pwd)"/*) ;; *) echo "check_wheel: fedguard imported from $pkg, not the venv" >&2; exit 1;; esac

# The base system a manylinux wheel may rely on (PEP 600 / auditwheel's policy): glibc's
# libraries and the loader, libstdc++, libgcc_s.
allowed='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$'
bad=0
checked=0
for f in "$pkg"/_core*.so "$pkg"/_bin/fedguard "$site"/fedguard.libs/*.so*; do
  [ -e "$f" ] || continue
  checked=$((checked + 1))
  while read -r name arrow path _; do
    [ -n "$name" ] || continue
    if [ "$arrow" != "=>" ]; then  # the loader and the vDSO: "name (addr)" or "/path (addr)"
      name=$(basename "$name")
      path=""
    fi
    [ -z "$path" ] || [ "$path" = "not" ] || path=$(realpath -m "$path")
    if [ "$path" = "not" ]; then
      echo "check_wheel: $f: $name not found" >&2; bad=1
    elif [[ "$path" == "$site/fedguard.libs/"* ]]; then
      :
    elif ! [[ "$name" =~ $allowed ]]; then
      echo "check_wheel: $f loads $name from $path (outside the wheel and the base system)" >&2; bad=1
    fi
  done < <(ldd "$f" | sed 's/^[[:space:]]*//')
done
[ "$bad" -eq 0 ] || exit 1
echo "check_wheel: ldd: $checked ELF files load only the wheel's fedguard.libs and the base system"

"$venv/bin/python" - <<'EOF'
import numpy as np, fedguard
x = np.random.default_rng(0).normal(size=(20, 1000)).astype(np.float32)
x[:3] *= -20
r = fedguard.Engine(fedguard.recommended_policy(3)).process_round(x, client_ids=[f"c{i}" for i in range(20)])
assert set(r.rejected_ids) >= {"c0", "c1", "c2"}, r.rejected_ids
print("check_wheel: a round through the installed package:", r, "rejected", r.rejected_ids)
EOF
"$venv/bin/fedguard" info
"$venv/bin/fedguard" demo --benign 40 --attackers 8 -d 2000 > "$venv/demo.txt"
grep -q '^sign_flip' "$venv/demo.txt" || { cat "$venv/demo.txt"; exit 1; }
echo "check_wheel: fedguard demo ran (the installed command line)"

if [ "${CHECK_WHEEL_TESTS:-1}" != 0 ]; then
  # From the repository root (tests/python imports nothing from python_bindings/); the
  # command-line tests use the venv's `fedguard` (tests/python/conftest.py's `cli`).
  FEDGUARD_EXPECT_BUILD_DIR="$pkg" PATH="$(cd "$venv" && pwd)/bin:$PATH" \
    "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/python
fi
