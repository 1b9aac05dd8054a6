cd /work/scratch/s40/nnm
B=/work/main/build/bin/fedguard
R=/work/main/bench/results
export FEDGUARD_KEEP_BLAS_KERNEL=1 FEDGUARD_EXP_NNM_MIN_SHARE=0.5
for s in 1 2 3; do
  $B simulate --config $R/norm_cap_2026-12-07/n200_alpha0.1_seed$s/base.json --matrix m200.json --jobs 2 --out-dir n200_a0.1_s$s --quiet
done
for s in 1 2 3; do
  $B simulate --config $R/oracle_matrix_2026-12-07_sign_only/n50_reduced/base_alpha0.1_seed$s.json --matrix m50.json --jobs 2 --out-dir n50_a0.1_s$s --quiet
done
$B simulate --config $R/norm_cap_2026-12-07/n200_alpha0.5_seed1/base.json --matrix m200a05.json --jobs 2 --out-dir n200_a0.5_s1 --quiet
echo done > run.done
