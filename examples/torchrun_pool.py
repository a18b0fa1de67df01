"""A learner and simulator workers joined in one torchrun job (one node here; several in general).

    torchrun --standalone --nproc_per_node=3 examples/torchrun_pool.py --num-envs 8 --steps 100

Rank 0 is the learner: it makes the vector environment with ``launch="torchrun"`` and steps it.
Every other rank serves as a simulator worker (device from ``--sim-device``; on a multi-GPU node
use ``cuda:<local rank - 1>``). Across machines, start the same command on each node with
``--nnodes``, ``--node-rank`` and ``--rdzv-endpoint`` as torchrun documents.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.distributed as dist

import gymnasium as gym

import dexgrasp_env  # noqa: F401
from dexgrasp_env.config import CameraConfig
from dexgrasp_env.vector import serve_worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="DexGrasp-Depth-v0", help="registered environment id")
    parser.add_argument("--num-envs", type=int, default=8, help="environments across all workers")
    parser.add_argument("--steps", type=int, default=100, help="steps to take")
    parser.add_argument("--sim-device", default="cpu", help="simulation device of every worker rank")
    parser.add_argument("--learner-device", default="cpu", help="device of rank 0's tensors")
    parser.add_argument("--size", type=int, default=32, help="image width and height")
    parser.add_argument("--worker-timeout-s", type=float, default=30.0,
                        help="a worker silent this long while a step is due fails the run (WorkerError)")
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank > 0:
        serve_worker()
        dist.destroy_process_group()
        return
    env = gym.make_vec(args.env_id, num_envs=args.num_envs, launch="torchrun",
                       sim_devices=[args.sim_device] * (world - 1), learner_device=args.learner_device,
                       camera=CameraConfig(width=args.size, height=args.size), worker_timeout_s=args.worker_timeout_s)
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    episodes = 0
    for _ in range(args.steps):
        actions = torch.rand(args.num_envs, *env.single_action_space.shape, device=args.learner_device) * 2 - 1
        obs, reward, terminated, truncated, info = env.step(actions)
        episodes += int(info["_episode_stats"].sum())
    elapsed = time.perf_counter() - start
    print(f"rank 0: {args.steps} steps of {args.num_envs} envs on {world - 1} workers in {elapsed:.1f} s "
          f"({args.steps * args.num_envs / elapsed:.0f} env-steps/s), {episodes} episodes ended, "
          f"last mean reward {float(reward.mean()):.3f}")
    env.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
