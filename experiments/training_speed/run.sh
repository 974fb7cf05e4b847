#!/usr/bin/env bash
# Quality parity and training time under trainer.precision=auto (#26 item 3): the demo at seeds 0-2 and each CPU
# study's baseline at its own seed, one run at a time, with nothing else on the machine. Each baseline goes into the
# baseline cache, so the studies reuse it. experiments/training_speed/collect.py turns the runs into parity.csv.
# A NAME is demo[_fp32]_s<SEED> (the default run at seed SEED), or <study>[_fp32][_s<SEED>]: the study's CPU baseline
# (experiment=<study>_cpu) at baseline/data seed SEED with _s<SEED> (default: the study's own, 0); _fp32: under
# trainer.precision=32-true.
# Usage: experiments/training_speed/run.sh [OUT_DIR] [NAME...]   (default: outputs/training_speed, the auto runs)
set -euo pipefail
out_dir=${1:-outputs/training_speed}
shift $(($# > 0 ? 1 : 0))
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(demo_s0 demo_s1 demo_s2 unet_camvid_layers vgg16_cifar10 segnet_camvid deeplabv3plus_camvid)
for name in "${names[@]}"; do
  case $name in
    demo_s*) args=(seed="${name#demo_s}") ;;
    demo_fp32_s*) args=(seed="${name#demo_fp32_s}" trainer.precision=32-true) ;;
    *) study=${name%_s[0-9]*}; args=()
       if [ "$study" != "$name" ]; then s=${name##*_s}; args+=(seed="$s" baseline.seed="$s" data.seed="$s"); fi
       if [ "${study%_fp32}" != "$study" ]; then study=${study%_fp32}; args+=(trainer.precision=32-true); fi
       args=(experiment="${study}_cpu" "${args[@]}") ;;
  esac
  if [ -f "$out_dir/$name/metrics.json" ] && grep -q '"completed"' "$out_dir/$name/metrics.json"; then
    echo "$name: done already"; continue
  fi
  echo "$name: $(date -u +%H:%M:%S) prunescope-train ${args[*]}"
  prunescope-train "${args[@]}" hydra.run.dir="$out_dir/$name" trainer.enable_progress_bar=false
done
