cd "$(dirname "$0")"
for s in 4 5 6 7 8 9 10; do FEDGUARD_KEEP_BLAS_KERNEL=1 /work/main/build/bin/fedguard simulate --config base_s$s.json --matrix m.json --jobs 1 --out-dir s$s --quiet; done
echo DONE
