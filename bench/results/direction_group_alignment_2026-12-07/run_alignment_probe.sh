cd /tmp/dg
for c in "$@"; do
  b=${c%.json}; rm -f $b.dg
  FEDGUARD_KEEP_BLAS_KERNEL=1 FEDGUARD_DGROUP_LOG=$b.dg /work/main/build/bin/fedguard simulate --config $c --out-dir $b.out --quiet > $b.log 2>&1
done
