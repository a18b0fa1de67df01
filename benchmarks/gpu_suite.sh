#!/usr/bin/env bash
# Every GPU figure the README promises, in one command of at most 9 minutes, as JSON named with the device.
#
#   bash benchmarks/gpu_suite.sh                        # on a machine with a CUDA GPU -> benchmarks/results/
#   bash benchmarks/gpu_suite.sh --quick /tmp/suite     # tiny sizes on the CPU (tests/test_benchmarks.py)
#
# 1. MuJoCo Warp throughput: State, Depth, StereoRGB at 160x120, 1,024 / 4,096 / 8,192 worlds
# 2. the pool: in-process against 2 workers on the same GPU (Depth 160x120, 4,096 envs)
# 3. capacity: environments per GPU for both layouts, from measured CUDA memory
# 4. algos/ppo.py: a 5-minute State run at 4,096 envs (SPS and a learning curve)
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
if [[ "${1:-}" == "--quick" ]]; then QUICK=1; shift; fi
OUT=${1:-benchmarks/results}
mkdir -p "$OUT"
if [[ $QUICK == 1 ]]; then
  DEVICE=cpu; SIZES="4"; POOL_ENVS=4; RES=(--width 16 --height 12); PPO_ENVS=8; PPO_SECONDS=2; STEPS=2; EVAL=4
  CAPACITY_RES=(--resolutions 32x24)
else
  DEVICE=${DEVICE:-cuda:0}; SIZES="1024 4096 8192"; POOL_ENVS=4096; RES=(--width 160 --height 120)
  PPO_ENVS=4096; PPO_SECONDS=300; STEPS=20; EVAL=256; CAPACITY_RES=()
fi
NAME=$(python -c "import torch; print(torch.cuda.get_device_name(0).replace(' ', '-') if torch.cuda.is_available() else 'cpu')")
TAG="${NAME}_$(date +%F)"
echo "device: $NAME ($DEVICE) -> $OUT/*_${TAG}.json"
START=$SECONDS

timeout 150 python benchmarks/throughput.py --device "$DEVICE" --backend warp --num-envs $SIZES "${RES[@]}" \
  --steps "$STEPS" --rounds 2 --out "$OUT/throughput_${TAG}.json"
echo "throughput done at $((SECONDS - START)) s"
timeout 90 python benchmarks/pool.py --env-id DexGrasp-Depth-v0 --num-envs "$POOL_ENVS" --workers 0 2 \
  --sim-device "$DEVICE" --learner-device "$DEVICE" "${RES[@]}" --steps "$STEPS" --out "$OUT/pool_${TAG}.json"
echo "pool done at $((SECONDS - START)) s"
timeout 60 python benchmarks/capacity.py --sim-device "$DEVICE" --gpus 4 --gpu-gib 80 "${CAPACITY_RES[@]}" --out "$OUT/capacity_${TAG}.json"
echo "capacity done at $((SECONDS - START)) s"
RUN=$(mktemp -d)
timeout $((PPO_SECONDS + 120)) python algos/ppo.py --num-envs "$PPO_ENVS" --learner-device "$DEVICE" \
  --env.episode-length-s 4 --gamma 0.99 --init-log-std -0.5 --total-timesteps 2000000000 \
  --time-limit-s "$PPO_SECONDS" --eval-interval 10 --eval-episodes "$EVAL" --checkpoint-interval 1000000 \
  --run-dir "$RUN" --no-progress
python - "$RUN/summary.json" "$OUT/ppo_state_${TAG}.json" "$NAME" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
summary["device"] = sys.argv[3]
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print(f"ppo: {summary['final']['sps']} SPS, final eval {summary['final'].get('eval')}")
EOF
echo "ppo done at $((SECONDS - START)) s"
