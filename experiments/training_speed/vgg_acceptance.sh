#!/usr/bin/env bash
# #26's acceptance run: a 2-epoch quarter-width VGG-16 CIFAR-10 run with the defaults (trainer.precision auto,
# channels-last, data on the device) against the same run with trainer.precision=32-true model.channels_last=false,
# back to back, ROUNDS times in alternating order. Each run trains its own baseline (no cache) with seed 0; nothing
# else may run on the machine meanwhile. Appends one CSV row per run to OUT_CSV:
# round,config,precision,time_baseline_s,acc (config: defaults | fp32_nchw).
# Usage: experiments/training_speed/vgg_acceptance.sh [OUT_CSV] [ROUNDS]   (default: vgg_acceptance.csv beside it, 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out_csv=${1:-$here/vgg_acceptance.csv}
rounds=${2:-3}
work=$(mktemp -d)
run=(model=vgg16 data=cifar10 model.net.width_mult=0.25 data.limit_train=8192 trainer.max_epochs=2)
declare -A extra=([defaults]="" [fp32_nchw]="trainer.precision=32-true model.channels_last=false")
[ -f "$out_csv" ] || echo "round,config,precision,time_baseline_s,acc" > "$out_csv"
for round in $(seq 1 "$rounds"); do
  order=(fp32_nchw defaults)
  [ $((round % 2)) -eq 0 ] && order=(defaults fp32_nchw)
  for config in "${order[@]}"; do
    dir=$work/r${round}_$config
    # shellcheck disable=SC2086  # the config's overrides are words
    prunescope-train "${run[@]}" ${extra[$config]} baseline.cache=false seed=0 \
      hydra.run.dir="$dir" trainer.enable_progress_bar=false > "$dir.log" 2>&1
    python - "$dir/metrics.json" "$round" "$config" >> "$out_csv" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]},{sys.argv[3]},{m['run.precision']},{m['time.baseline']:.1f},{m['baseline.acc']:.4f}")
PY
    tail -1 "$out_csv"
  done
done
rm -rf "$work"
