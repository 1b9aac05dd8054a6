#!/bin/bash
# sweep.sh VALUE : scan every log with loner_norm_ratio VALUE
V=$1; N=$2
logs200="s2none:a05s2_none/log s1none:/work/scratch/a05_none/log bd05:a05s2_backdoor/log bd01:a01s1_backdoor/log n01s1:/work/scratch/none_s1/log lf01:/work/scratch/lf_s1/log"
logs50="n50lf1:/work/scratch/n50_label_flip_s1/log n50lf2:/work/scratch/n50_label_flip_s2/log n50lf3:/work/scratch/n50_label_flip_s3/log n50none1:/work/scratch/n50_none_s1/log n50none2:/work/scratch/n50_none_s2/log n50none3:/work/scratch/n50_none_s3/log"
echo "{\"preset\": \"recommended\", \"f\": 40, \"detection\": $V}" > pol_$N.json
echo "{\"preset\": \"recommended\", \"f\": 10, \"detection\": $V}" > pol50_$N.json
mkdir -p sw_$N
run() { /work/main/build/bin/fedguard scan ${2#*:} --config $1 --no-layer-scores --out sw_$N/${2%%:*} --progress none > /dev/null 2>&1; }
set -- $logs200
for l in $logs200; do run pol_$N.json $l & [ $(jobs -r | wc -l) -ge 2 ] && wait -n; done
for l in $logs50; do run pol50_$N.json $l & [ $(jobs -r | wc -l) -ge 2 ] && wait -n; done
wait
