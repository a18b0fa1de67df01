"""The simulator pool: throughput against worker count, the share of a step spent moving data,
pipelining, and memory per environment for the two roles (simulator worker; learner).

Data movement per step = the learner's wall time for ``step`` minus the slowest worker's own
compute time (its step, observation and packing, timed inside the worker): sending actions,
transport of the results, copies into the learner's tensors and waiting.

    python benchmarks/pool.py --num-envs 64 --workers 0 1 2 --width 64 --height 64
    python benchmarks/pool.py --sim-device cuda:0 --learner-device cuda:0 --num-envs 4096 --workers 0 1 2 \
        --width 160 --height 120 --out benchmarks/results/pool_h100.json
    python benchmarks/pool.py --start --out benchmarks/results/pool_start_cpu-2core_$(date +%F).json

``--start`` times how long a pool of two CPU workers takes from ``make_vec`` to its first observation, for
each start method (``PoolConfig.start_method``) and for State and Depth, each pair in a fresh process: the
first pool (which starts the forkserver) and the median of the next ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine, peak_rss_mb  # noqa: E402

import gymnasium as gym  # noqa: E402

import dexgrasp_env  # noqa: E402,F401
from dexgrasp_env.config import CameraConfig, make_env_config  # noqa: E402
from dexgrasp_env.sim import make_simulator  # noqa: E402
from dexgrasp_env.spaces import key_spaces  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def throughput(args, workers: int) -> dict:
    devices = None if workers == 0 else [args.sim_device] * workers
    env = gym.make_vec(args.env_id, num_envs=args.num_envs, sim_devices=devices, learner_device=args.learner_device,
                       camera=CameraConfig(width=args.width, height=args.height))
    env.reset(seed=0)
    actions = torch.zeros(args.num_envs, *env.single_action_space.shape, device=args.learner_device)
    for _ in range(3):
        env.step(actions)
    walls, computes = [], []
    for _ in range(args.steps):
        _sync(args.learner_device)
        start = time.perf_counter()
        env.step(actions)
        _sync(args.learner_device)
        walls.append(time.perf_counter() - start)
        computes.append(max(env.last_timing["compute_s"]))
    env.close()
    wall, compute = float(np.median(walls)), float(np.median(computes))
    movement = max(wall - compute, 0.0) if workers else 0.0
    return {"workers": workers, "layout": "in-process" if workers == 0 else f"{workers} x {args.sim_device}",
            "step_ms": round(wall * 1e3, 2), "slowest_worker_compute_ms": round(compute * 1e3, 2),
            "data_movement_ms": round(movement * 1e3, 2), "data_movement_share": round(movement / wall, 4),
            "env_steps_per_s": round(args.num_envs / wall, 1)}


def pipelined(args, workers: int) -> dict:
    """Double-buffered halves against plain steps, with a learner that needs ``policy_ms`` per batch."""
    devices = [args.sim_device] * workers
    kw = dict(num_envs=args.num_envs, sim_devices=devices, learner_device=args.learner_device,
              camera=CameraConfig(width=args.width, height=args.height))
    out = {}
    for mode in ("plain", "pipelined"):
        env = gym.make_vec(args.env_id, pipeline=mode == "pipelined", **kw)
        env.reset(seed=0)
        policy = args.policy_ms / 1e3
        if mode == "plain":
            act = torch.zeros(args.num_envs, *env.single_action_space.shape, device=args.learner_device)
            start = time.perf_counter()
            for _ in range(args.steps):
                time.sleep(policy)  # the learner computing actions for all environments
                env.step(act)
        else:
            a, b = env.halves()
            act = torch.zeros(a.num_envs, *env.single_action_space.shape, device=args.learner_device)
            a.reset(seed=0)
            b.reset(seed=0)
            start = time.perf_counter()
            time.sleep(policy / 2)
            a.step_async(act)
            for _ in range(args.steps):
                time.sleep(policy / 2)  # B's actions while A simulates
                b.step_async(act)
                a.step_wait()
                time.sleep(policy / 2)  # A's actions while B simulates
                a.step_async(act)
                b.step_wait()
            a.step_wait()
        elapsed = time.perf_counter() - start
        out[mode] = round(args.num_envs * args.steps / elapsed, 1)
        env.close()
    return {"workers": workers, "policy_ms_per_batch": args.policy_ms, "env_steps_per_s": out,
            "speedup": round(out["pipelined"] / out["plain"], 3)}


def sim_memory_per_env(args) -> dict:
    """Bytes of one worker's simulator state per environment: slope between two batch sizes."""
    cfg = make_env_config(args.env_id, camera=CameraConfig(width=args.width, height=args.height))
    sizes = (max(2, args.num_envs // 4), args.num_envs)
    nbytes = []
    for n in sizes:
        cams = cfg.cameras_needed()
        sim = make_simulator(cfg, n, args.sim_device, cameras=cams)
        nbytes.append(sim.memory_bytes())
        del sim
    per_env = (nbytes[1] - nbytes[0]) / (sizes[1] - sizes[0])
    obs_bytes = sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in key_spaces(cfg).values())
    return {"sizes": list(sizes), "sim_bytes": nbytes, "sim_bytes_per_env": round(per_env),
            "sim_fixed_bytes": round(nbytes[0] - per_env * sizes[0]),
            "reply_buffer_bytes_per_env": obs_bytes + 64}


def start_times(env_id: str, method: str, pools: int = 4) -> dict:
    """Seconds from ``make_vec`` to the first observation of ``pools`` pools of two CPU workers in a row."""
    times = []
    for _ in range(pools):
        start = time.perf_counter()
        env = gym.make_vec(env_id, num_envs=4, sim_devices=("cpu", "cpu"), start_method=method,
                           camera=CameraConfig(width=32, height=32))
        env.reset(seed=0)
        times.append(time.perf_counter() - start)
        env.close()
    return {"first_s": round(times[0], 2), "next_median_s": round(float(np.median(times[1:])), 2)}


def start_table() -> dict:
    """:func:`start_times` of each start method and environment, each in a fresh process (a forkserver, once
    running, serves every later pool of its process)."""
    out: dict = {}
    for env_id in ("DexGrasp-State-v0", "DexGrasp-Depth-v0"):
        for method in ("spawn", "forkserver"):
            res = subprocess.run([sys.executable, os.path.abspath(__file__), "--start-row", env_id, method],
                                 check=True, capture_output=True, text=True)
            out.setdefault(env_id, {})[method] = json.loads(res.stdout.strip().splitlines()[-1])
        row = out[env_id]
        row["next_speedup"] = round(row["spawn"]["next_median_s"] / row["forkserver"]["next_median_s"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="DexGrasp-Depth-v0", help="registered environment id")
    parser.add_argument("--num-envs", type=int, default=64, help="environments in the pool")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="worker counts to measure; 0 = simulate in-process on the learner device")
    parser.add_argument("--sim-device", default="cpu", help="device of every worker")
    parser.add_argument("--learner-device", default="cpu", help="learner device")
    parser.add_argument("--width", type=int, default=64, help="image width")
    parser.add_argument("--height", type=int, default=64, help="image height")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per layout")
    parser.add_argument("--policy-ms", type=float, default=0.0,
                        help="if > 0, also compare pipelined halves with plain steps for a learner needing this "
                             "long per batch of actions")
    parser.add_argument("--start", action="store_true",
                        help="only time pool starts: each start method, State and Depth, two CPU workers")
    parser.add_argument("--start-row", nargs=2, metavar=("ENV_ID", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    if args.start_row:
        print(json.dumps(start_times(*args.start_row)))
        return
    if args.start:
        emit({"machine": machine(), "pool_start": start_table()}, args.out)
        return
    results = {"machine": machine(args.sim_device), "env_id": args.env_id, "num_envs": args.num_envs,
               "resolution": [args.width, args.height],
               "throughput": [throughput(args, w) for w in args.workers],
               "memory": {"simulator_worker": sim_memory_per_env(args)}}
    if args.policy_ms > 0:
        results["pipelining"] = [pipelined(args, w) for w in args.workers if w > 0]
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    emit(results, args.out)


if __name__ == "__main__":
    main()
