cd .
B=/work/main/build/bin/fedguard
R=/work/main/bench/results
sim() { FEDGUARD_KEEP_BLAS_KERNEL=1 $B simulate --config $1 --matrix $2 --jobs 2 --out-dir $3 --quiet; }
for s in 1 2 3; do sim $R/norm_cap_2026-12-07/n200_alpha0.1_seed$s/base.json m200.json n200_a0.1_s$s; done
sim $R/norm_cap_2026-12-07/n200_alpha0.5_seed1/base.json m200.json n200_a0.5_s1
for s in 2 3; do sim ../../base_n200_a0.5_s$s.json m200.json n200_a0.5_s$s; done
for a in 0.1; do for s in 1 2 3; do sim $R/oracle_matrix_2026-12-07_sign_only/n50_reduced/base_alpha${a}_seed$s.json m50.json n50_a${a}_s$s; done; done
echo DONE
