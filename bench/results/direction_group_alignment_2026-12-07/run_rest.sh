cd /tmp/ev
while ! grep -q ALLDONE run_all.log; do sleep 10; done
B=/work/main/build/bin/fedguard
R=/work/main/bench/results
for s in 1 2; do
  FEDGUARD_KEEP_BLAS_KERNEL=1 $B simulate --config $R/norm_cap_2026-12-07/n200_alpha0.1_seed$s/base.json --matrix m200_rest12.json --jobs 2 --out-dir rest_n200_a0.1_s$s --quiet
done
FEDGUARD_KEEP_BLAS_KERNEL=1 $B simulate --config $R/norm_cap_2026-12-07/n200_alpha0.1_seed3/base.json --matrix m200_rest3.json --jobs 2 --out-dir rest_n200_a0.1_s3 --quiet
echo RESTDONE
