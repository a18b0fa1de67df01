"""Environment throughput beside the raw simulator step and render of the same worlds.

For each id: the task's control step (actions, physics, observations, rewards, autoresets,
rendering) against the raw cost of the same worlds (``Simulator.step``: ``decimation`` physics steps
and the new frames; for image ids, ``Simulator.render``), measured alternately on the same simulator
so both see the same contact load. Prints JSON.

    python benchmarks/throughput.py --num-envs 64 --width 64 --height 64                  # C MuJoCo (CPU default)
    python benchmarks/throughput.py --backend warp --num-envs 64 --width 64 --height 64
    python benchmarks/throughput.py --device cuda:0 --num-envs 1024 4096 8192 --width 160 --height 120 \
        --out benchmarks/results/throughput_h100.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine, peak_rss_mb  # noqa: E402

from dexgrasp_env.config import ENV_IDS, CameraConfig, make_env_config  # noqa: E402
from dexgrasp_env.task import GraspTask  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(env_id: str, num_envs: int, device: str, width: int, height: int, steps: int, rounds: int,
            backend: str = "auto") -> dict:
    cfg = make_env_config(env_id, camera=CameraConfig(width=width, height=height), backend=backend)
    task = GraspTask(cfg, num_envs, device)
    sim = task.sim
    task.reset(seed=0)
    gen = torch.Generator(device=task.device).manual_seed(0)

    def task_steps() -> float:
        _sync(task.device)
        start = time.perf_counter()
        for _ in range(steps):
            task.step(torch.rand(num_envs, task.action_dim, generator=gen, device=task.device) * 2 - 1)
        _sync(task.device)
        return (time.perf_counter() - start) / steps

    def raw_steps() -> tuple[float, float]:
        physics = render = 0.0
        for _ in range(steps):
            _sync(task.device)
            t0 = time.perf_counter()
            sim.step()
            _sync(task.device)
            t1 = time.perf_counter()
            if sim.cameras:
                sim.render()
                _sync(task.device)
            physics += t1 - t0
            render += time.perf_counter() - t1
        return physics / steps, render / steps

    task_steps()  # warm-up: kernel loads, allocator
    raw_steps()
    task_t, phys_t, rend_t = [], [], []
    for _ in range(rounds):
        task_t.append(task_steps())
        p, r = raw_steps()
        phys_t.append(p)
        rend_t.append(r)
    task_s, phys_s, rend_s = min(task_t), min(phys_t), min(rend_t)
    raw_s = phys_s + rend_s
    out = {
        "env_id": env_id, "num_envs": num_envs, "device": str(task.device), "backend": sim.backend,
        "resolution": [width, height] if sim.cameras else None,
        "raw_physics_ms": round(phys_s * 1e3, 3), "raw_render_ms": round(rend_s * 1e3, 3),
        "task_step_ms": round(task_s * 1e3, 3),
        "task_layer_overhead": round(task_s / raw_s - 1.0, 4),
        "env_steps_per_s": round(num_envs / task_s, 1), "raw_steps_per_s": round(num_envs / raw_s, 1),
        "sim_memory_mb": round(sim.memory_bytes() / 2**20, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if task.device.type == "cuda":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(task.device) / 2**20, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-ids", nargs="+", default=list(ENV_IDS), help="registered ids to measure")
    parser.add_argument("--num-envs", nargs="+", type=int, default=[64], help="batch sizes to measure")
    parser.add_argument("--device", default="cpu", help="simulation device: cpu or cuda:<k>")
    parser.add_argument("--backend", default="auto", choices=("auto", "mujoco", "warp"),
                        help="physics backend (auto: C MuJoCo on CPU, MuJoCo Warp on CUDA)")
    parser.add_argument("--width", type=int, default=64, help="image width (pixels)")
    parser.add_argument("--height", type=int, default=64, help="image height (pixels)")
    parser.add_argument("--steps", type=int, default=20, help="control steps per timed round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the fastest counts")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    results = [measure(e, n, args.device, args.width, args.height, args.steps, args.rounds, args.backend)
               for e in args.env_ids for n in args.num_envs]
    emit({"machine": machine(args.device), "results": results}, args.out)


if __name__ == "__main__":
    main()
