#!/usr/bin/env bash
# The default demo under fp32 and under bf16-mixed, back to back, ROUNDS times in alternating order (#26 item 1:
# does bf16 make the demo slower?). Each run trains its own baseline (no cache) with seed 0; nothing else may run
# on the machine meanwhile. Appends one CSV row per run to OUT_CSV: round,precision,time_baseline_s,miou.
# Usage: experiments/training_speed/demo_precision.sh [OUT_CSV] [ROUNDS]   (default: demo_precision.csv beside it, 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out_csv=${1:-$here/demo_precision.csv}
rounds=${2:-3}
work=$(mktemp -d)
[ -f "$out_csv" ] || echo "round,precision,time_baseline_s,miou" > "$out_csv"
for round in $(seq 1 "$rounds"); do
  order=(32-true bf16-mixed)
  [ $((round % 2)) -eq 0 ] && order=(bf16-mixed 32-true)
  for precision in "${order[@]}"; do
    dir=$work/r${round}_$precision
    prunescope-train trainer.precision="$precision" baseline.cache=false seed=0 \
      hydra.run.dir="$dir" trainer.enable_progress_bar=false > "$dir.log" 2>&1
    python - "$dir/metrics.json" "$round" "$precision" >> "$out_csv" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["run.precision"] == sys.argv[3], m["run.precision"]
print(f"{sys.argv[2]},{sys.argv[3]},{m['time.baseline']:.1f},{m['baseline.miou']:.4f}")
PY
    tail -1 "$out_csv"
  done
done
rm -rf "$work"
