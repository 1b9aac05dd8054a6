#!/usr/bin/env python3
"""Proves that the sanitizer filter of the GPU kit covers every CUDA kernel (issue #16).

Static check (on any machine; bench/gpu/make_kit.sh runs it):
  every `__global__` kernel `<name>_kernel` in kernels/ and host/backend/cuda/ is launched
  through a launcher that reports FEDGUARD_CUDA_CHECK_LAUNCH("<name>") (so the runtime log below
  names it), and is listed in LAUNCHED_BY with the tests that launch it and why; every test
  pattern there matches at least one test that `fedguard_cuda_tests --gtest_list_tests` lists;
  no entry of LAUNCHED_BY names a kernel that no longer exists. Prints the kernel -> tests map and
  writes the filter (the union of the patterns) with --write-filter.

Runtime check (on the GPU machine; the kit's run.sh runs it after memcheck):
  --from-kit kernel_coverage.txt --launched FILE, FILE being what the test binary wrote under
  FEDGUARD_KERNEL_LOG=FILE (kernels/launch_log.cu: the names of the kernels it launched): every
  kernel of the map must have been launched by the filtered run.

Usage: check_kernel_coverage.py --root . --tests build/tests/fedguard_cuda_tests [--write-filter F]
       check_kernel_coverage.py --from-kit kernel_coverage.txt --launched launched.txt
"""
import argparse
import fnmatch
import glob
import os
import re
import subprocess
import sys

SCAN_ALL = "Shapes/CudaVsCpu.EveryPrimitiveAndRule/n3_*"     # float32, float16, bfloat16 x 3 placements
SCAN_WARPS = "Shapes/CudaVsCpu.EveryPrimitiveAndRule/n32_float32_*"  # a full warp of rows, 3 placements
NAN = "CudaBackend.NaNRowsAreFlaggedAndLeaveTheOthersAsOnTheCpu"
BF16 = "CudaBackend.ReducedPrecisionGramsStayClose"
SUBNORMAL = "CudaBackend.SubnormalOnlyRowsScaleWithoutOverflow"
NAN_SUM = "CudaBackend.NaNSumsStayNaNAsOnTheCpu"

# kernel -> (test patterns that launch it, why). full_request() asks for the Gram, a sketch, a
# column subset and one reference, so EveryPrimitiveAndRule runs every pass-1 kernel; it then runs
# the linear rule, every column statistic, and a mixed median (convert_rows + the mixing GEMM).
LAUNCHED_BY = {
    "load_row_stats": ([SCAN_ALL, SCAN_WARPS, NAN], "every scan, every dtype"),
    "robust_limit": ([SCAN_ALL, SCAN_WARPS, NAN], "scan with gram"),
    "centre_columns": ([SCAN_ALL, SCAN_WARPS, NAN], "scan with gram: row-chunk sums"),
    "centre_columns_finish": ([SCAN_ALL, SCAN_WARPS, NAN], "scan with gram: chunk sums combined"),
    "dot_partials": ([SCAN_ALL, SCAN_WARPS, NAN], "scan with gram: c . c; references: c . v, v . v"),
    "dots_finish": ([SCAN_ALL, SCAN_WARPS, NAN], "as dot_partials"),
    "centre_rows": ([SCAN_ALL, SCAN_WARPS, NAN, SUBNORMAL], "scan with gram"),
    "accumulate_gram": ([SCAN_ALL, SCAN_WARPS, NAN], "scan with gram; column subsets"),
    "gather_columns": ([SCAN_ALL, SCAN_WARPS], "full_request's column subset"),
    "count_sketch": ([SCAN_ALL, SCAN_WARPS, SUBNORMAL], "full_request's sketch (q = 16)"),
    "count_sketch_finish": ([SCAN_ALL, SCAN_WARPS, SUBNORMAL], "full_request's sketch"),
    "max_abs_partials": ([SCAN_ALL, SCAN_WARPS], "full_request's reference: its scale"),
    "unit_scales": ([SCAN_ALL, SCAN_WARPS], "full_request's reference: its scale"),
    "scale_rows": ([SCAN_ALL, SCAN_WARPS], "full_request's reference: its scaled copy"),
    "accumulate_ref_proj": ([SCAN_ALL, SCAN_WARPS], "full_request's reference"),
    "to_bf16": ([BF16], "precision bf16 only"),
    "linear_combination": ([SCAN_ALL, SCAN_WARPS, NAN_SUM], "pass 2, linear"),
    "convert_rows": ([SCAN_ALL, SCAN_WARPS], "pass 2, mixed median"),
    "column_statistic": ([SCAN_ALL, SCAN_WARPS], "pass 2: median, trimmed mean, Bulyan's mean"),
}

KERNEL_RE = re.compile(r"__global__\s+(?:void\s+)?(?:__launch_bounds__\([^)]*\)\s*)?(?:void\s+)?(\w+)_kernel\s*\(")
LAUNCH_RE = re.compile(r'FEDGUARD_CUDA_CHECK_LAUNCH\("(\w+)"\)')


def kernels_in(root):
    found, reported = {}, set()
    files = glob.glob(os.path.join(root, "kernels", "*.cu")) + glob.glob(os.path.join(root, "kernels", "*.cuh")) + \
        glob.glob(os.path.join(root, "host", "backend", "cuda", "*.cu"))
    for f in sorted(files):
        text = open(f).read()
        for m in KERNEL_RE.finditer(text):
            found[m.group(1)] = os.path.relpath(f, root)
        reported.update(LAUNCH_RE.findall(text))
    return found, reported


def listed_tests(binary):
    out = subprocess.run([binary, "--gtest_list_tests"], check=True, capture_output=True, text=True).stdout
    tests, suite = [], None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            suite = line.split()[0]
        else:
            tests.append(suite + line.split()[0])
    return tests


def static_check(a):
    errors = []
    kernels, reported = kernels_in(a.root)
    if not kernels:
        errors.append("no __global__ kernels found under " + a.root)
    tests = listed_tests(a.tests)
    for name, where in sorted(kernels.items()):
        if name not in reported:
            errors.append(f"{name}_kernel ({where}): no FEDGUARD_CUDA_CHECK_LAUNCH(\"{name}\") reports its launches")
        if name not in LAUNCHED_BY:
            errors.append(f"{name}_kernel ({where}): not in LAUNCHED_BY (which tests launch it?)")
    for name in LAUNCHED_BY:
        if name not in kernels:
            errors.append(f"LAUNCHED_BY names {name}, which is no kernel any more")
    patterns = []
    lines = []
    for name in sorted(kernels):
        pats, why = LAUNCHED_BY.get(name, ([], ""))
        matched = []
        for p in pats:
            hits = fnmatch.filter(tests, p)
            if not hits:
                errors.append(f"{name}: pattern {p} matches no listed test")
            matched += hits
            if p not in patterns:
                patterns.append(p)
        lines.append(f"{name}\t{kernels[name]}\t{why}\t{len(matched)} tests: {' '.join(sorted(set(matched)))}")
    flt = ":".join(patterns)
    selected = [t for t in tests if any(fnmatch.fnmatch(t, p) for p in patterns)]
    print(f"# kernel\tfile\twhy\ttests in the sanitizer filter that launch it")
    print("\n".join(lines))
    print(f"# filter ({len(selected)} of {len(tests)} tests): {flt}")
    if a.write_filter:
        with open(a.write_filter, "w") as fh:
            fh.write(flt + "\n")
    for e in errors:
        print("ERROR: " + e, file=sys.stderr)
    return 1 if errors else 0


def runtime_check(a):
    names = [l.split("\t")[0] for l in open(a.from_kit) if l.strip() and not l.startswith("#")]
    if not os.path.exists(a.launched):
        print(f"ERROR: {a.launched} was not written (FEDGUARD_KERNEL_LOG): no kernel ran", file=sys.stderr)
        return 1
    launched = {l.strip() for l in open(a.launched) if l.strip()}
    missing = [n for n in names if n not in launched]
    print(f"kernels: {len(names)}, launched by the filtered run: {len(set(names) & launched)}")
    for n in missing:
        print(f"ERROR: kernel {n} was not launched by the sanitizer filter's tests", file=sys.stderr)
    return 1 if missing else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".")
    ap.add_argument("--tests", help="fedguard_cuda_tests binary (for --gtest_list_tests)")
    ap.add_argument("--write-filter")
    ap.add_argument("--from-kit")
    ap.add_argument("--launched")
    a = ap.parse_args()
    if a.from_kit:
        return runtime_check(a)
    if not a.tests:
        ap.error("--tests is required for the static check")
    return static_check(a)


if __name__ == "__main__":
    sys.exit(main())
