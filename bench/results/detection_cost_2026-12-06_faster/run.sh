#!/bin/bash
# A/B of the detection stage's cost at n = 1000 (issue #13): the engine before this session's
# changes (6a606a4, built in a worktree at BASE) and after (this commit's build/python), the
# same script, alternating, three times each; fresh rounds, best and median of 6 timed rounds.
# OPENBLAS_CORETYPE=SkylakeX (the kernel the command line restarts itself with on this
# processor; Python processes need it set, README "The BLAS kernel"), then once each unset.
set -u
BASE=${BASE:-/tmp/base/build/python}
cd "$(dirname "$0")/../../.."
for i in 1 2 3; do
  for b in "$BASE" build/python; do
    echo "== $b (run $i, OPENBLAS_CORETYPE=SkylakeX)"
    OPENBLAS_CORETYPE=SkylakeX PYTHONPATH=$b python3 bench/detection_cost.py --fresh --reps 6 --sizes 1000x100000
  done
done
for b in "$BASE" build/python; do
  echo "== $b (OPENBLAS_CORETYPE unset)"
  env -u OPENBLAS_CORETYPE PYTHONPATH=$b python3 bench/detection_cost.py --fresh --reps 6 --sizes 1000x100000
done
for b in "$BASE" build/python; do
  echo "== $b (OPENBLAS_CORETYPE=SkylakeX)"
  OPENBLAS_CORETYPE=SkylakeX PYTHONPATH=$b python3 bench/detection_cost.py --fresh --reps 4 --sizes 100x1000000
done
