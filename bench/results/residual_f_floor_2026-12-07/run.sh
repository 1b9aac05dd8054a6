cd /work/scratch/s40/floor
B=/work/main/build/bin/fedguard
R=/work/main/bench/results
export FEDGUARD_KEEP_BLAS_KERNEL=1 FEDGUARD_EXP_MIN_F_FRAC=0.25
for s in 1 2 3; do
  $B simulate --config $R/norm_cap_2026-12-07/n200_alpha0.1_seed$s/base.json --matrix m200.json --jobs 2 --out-dir n200_a0.1_s$s --quiet
done
echo N200DONE
