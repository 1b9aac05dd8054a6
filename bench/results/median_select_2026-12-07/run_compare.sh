#!/bin/sh
# Engine rounds, both cores: the base build's Python module (the networks: the same source with
# the counting kernels switched off) and this commit's alternating by shape, then the peers with
# this commit at two shapes.   run_compare.sh BASE_PYTHON_DIR OUT_DIR
base=$1 out=$2
for nd in "1000 1e5" "2048 48828" "4096 24414"; do
  set -- $nd
  python3 bench/compare.py --n $1 --d $2 --rules median,trimmed_mean --repeats 7 --no-plot \
    --families fedguard --fedguard-path "$base" --out-dir "$out/base_n$1" > "$out/base_n$1.log" 2>&1
  python3 bench/compare.py --n $1 --d $2 --rules median,trimmed_mean --repeats 7 --no-plot \
    --families fedguard --out-dir "$out/new_n$1" > "$out/new_n$1.log" 2>&1
done
for nd in "1000 1e5" "4096 24414"; do
  set -- $nd
  /work/venv-peers/bin/python bench/compare.py --n $1 --d $2 --rules median,trimmed_mean \
    --repeats 7 --no-plot --out-dir "$out/peers_n$1" > "$out/peers_n$1.log" 2>&1
done
