#!/bin/bash
cd /work/main
for rep in 1 2 3; do
  for which in base new; do
    if [ $which = base ]; then P=/tmp/base_src/build/python; else P=/work/main/build/python; fi
    python3 bench/compare.py --n 10,100,1000 --d 1e4 --rules median,trimmed_mean \
      --families fedguard --repeats 30 --no-plot --fedguard-path $P \
      --out-dir /tmp/rd1/small/${which}_$rep > /tmp/rd1/small/${which}_$rep.log 2>&1
  done
done
echo done > /tmp/rd1/small/finished
