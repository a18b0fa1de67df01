"""Per-step overhead of the Stable-Baselines3 adapter over the raw pool (same settings, same worlds).

    python benchmarks/adapters.py --num-envs 64 --env-id DexGrasp-State-v0
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine  # noqa: E402

from dexgrasp_env.config import ENV_IDS, CameraConfig  # noqa: E402
from dexgrasp_env.vector import make_vector_env  # noqa: E402
from dexgrasp_env.wrappers.sb3 import SB3VecEnv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="DexGrasp-State-v0", choices=list(ENV_IDS), help="environment")
    parser.add_argument("--num-envs", type=int, default=64, help="environments")
    parser.add_argument("--sim-devices", nargs="*", default=None, help="one device per worker (default in-process)")
    parser.add_argument("--size", type=int, default=48, help="image width and height")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (alternating raw and adapter)")
    parser.add_argument("--episode-length-s", type=float, default=0.25,
                        help="short episodes, so that finished environments (the adapter's per-env work) occur")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    venv = make_vector_env(args.num_envs, ENV_IDS[args.env_id], sim_devices=args.sim_devices,
                           autoreset_mode="same_step", numpy_obs=True, episode_length_s=args.episode_length_s,
                           camera=CameraConfig(width=args.size, height=args.size))
    adapter = SB3VecEnv(venv)
    actions = np.zeros((args.num_envs, *venv.single_action_space.shape), dtype=np.float32)
    adapter.reset()
    for _ in range(3):
        adapter.step(actions)
    raw, wrapped, finished = [], [], 0
    for _ in range(args.steps):  # alternate, so both see the same load
        t = time.perf_counter()
        venv.step(actions)
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        _, _, dones, _ = adapter.step(actions)
        wrapped.append(time.perf_counter() - t)
        finished += int(dones.sum())
    venv.close()
    r, w = float(np.median(raw)), float(np.median(wrapped))
    emit({"machine": machine(), "env_id": args.env_id, "num_envs": args.num_envs,
          "layout": "in-process" if not args.sim_devices else f"{len(args.sim_devices)} workers",
          "raw_step_ms": round(r * 1e3, 3), "adapter_step_ms": round(w * 1e3, 3),
          "overhead_ms": round((w - r) * 1e3, 3), "overhead_share": round(w / r - 1, 4),
          "finished_envs_per_step": round(finished / args.steps, 2)}, args.out)


if __name__ == "__main__":
    main()
