cd /work/scratch/s40/floor
while [ ! -f run2.done ]; do sleep 5; done
B=/work/main/build/bin/fedguard
R=/work/main/bench/results
export FEDGUARD_KEEP_BLAS_KERNEL=1
unset FEDGUARD_EXP_MIN_F_FRAC
for s in 1 2 3; do
  $B simulate --config $R/oracle_matrix_2026-12-07_sign_only/n50_reduced/base_alpha0.1_seed$s.json --matrix m50.json --jobs 2 --out-dir ctl/n50_a0.1_s$s --quiet
done
echo done > run3.done
