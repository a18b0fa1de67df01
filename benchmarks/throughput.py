"""Environment throughput beside the raw simulator step and render of the same worlds.

For each id: the task's control step (actions, physics, observations, rewards, autoresets,
rendering) against the raw cost of the same worlds (``Simulator.step``: ``decimation`` physics steps
and the new frames; for image ids, ``Simulator.render``), measured alternately on the same simulator
so both see the same contact load. Prints JSON.

With ``--ppo``: end-to-end PPO (``algos/ppo.py``) on one id, split into its phases (environment step,
policy inference, learner update) for several learner configurations side by side, in rounds that
alternate between them (the fastest round of each counts), next to the raw physics and render cost
of the same worlds. ``today`` is the configuration before 2026-12-01 (images rendered on one thread,
NCHW convolutions, float32); each further variant adds one change:

    python benchmarks/throughput.py --ppo --env-ids DexGrasp-Depth-v0 --num-envs 256 --width 48 --height 48 \
        --out benchmarks/results/ppo_throughput_cpu-2core_<date>.json

    python benchmarks/throughput.py --num-envs 64 --width 64 --height 64                  # C MuJoCo (CPU default)
    python benchmarks/throughput.py --backend warp --num-envs 64 --width 64 --height 64
    python benchmarks/throughput.py --device cuda:0 --num-envs 1024 4096 8192 --width 160 --height 120 \
        --out benchmarks/results/throughput_h100.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_script, machine, peak_rss_mb  # noqa: E402

from dexgrasp_env.config import ENV_IDS, CameraConfig, SensorsConfig, make_env_config  # noqa: E402
from dexgrasp_env.task import GraspTask  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(env_id: str, num_envs: int, device: str, width: int, height: int, steps: int, rounds: int,
            backend: str = "auto", render_threads: int | None = None) -> dict:
    cfg = make_env_config(env_id, camera=CameraConfig(width=width, height=height), backend=backend,
                          render_threads=render_threads)
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
        "render_threads": render_threads,
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


PPO_VARIANTS = {
    "today": {"channels_last": False, "bf16": False, "render_threads": 1},
    "render_threads": {"channels_last": False, "bf16": False, "render_threads": None},
    "channels_last": {"channels_last": True, "bf16": False, "render_threads": None},
    "channels_last+bf16": {"channels_last": True, "bf16": True, "render_threads": None},
}
"""Configurations of ``--ppo``: ``algos/ppo.py`` flags and ``EnvConfig.render_threads`` (None: one render
thread per simulator thread); ``today`` is the configuration before 2026-12-01."""


def measure_ppo(env_id: str, num_envs: int, width: int, height: int, updates: int, rounds: int,
                variants=tuple(PPO_VARIANTS)) -> dict:
    """End-to-end PPO SPS and its phases per variant, the rounds alternating between the variants."""
    ppo = load_script("ppo")
    base = ppo.Args(env_id=env_id, num_envs=num_envs, progress=False, eval_episodes=1,
                    checkpoint_interval=10**9, run_dir=os.path.join("/tmp", f"dexgrasp-ppo-throughput-{os.getpid()}"))
    base = dataclasses.replace(base, env=dataclasses.replace(
        base.env, sensors=SensorsConfig.static(dataclasses.replace(base.env.sensors.depth, width=width,
                                                                   height=height))))
    runs: dict = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            flags = dict(PPO_VARIANTS[v])
            env = dataclasses.replace(base.env, render_threads=flags.pop("render_threads"))
            args = dataclasses.replace(base, **flags, env=env,
                                       total_timesteps=(updates + 1) * base.num_steps * num_envs)
            ph = ppo.main(args)["phases"]  # timed from its second update on
            steps = ph["steps"]
            runs[v].append({
                "sps": steps / (ph["env_s"] + ph["act_s"] + ph["learn_s"]),
                "env_steps_per_s": steps / ph["env_s"],
                "policy_ms_per_step": 1e3 * ph["act_s"] / steps,
                "learner_ms_per_sample": 1e3 * ph["learn_s"] / steps,
                "env_ms_per_step": 1e3 * ph["env_s"] / steps})
    out = {"env_id": env_id, "num_envs": num_envs, "resolution": [width, height], "updates_timed": updates,
           "rounds": rounds, "variants": {}}
    for v, rs in runs.items():
        best = max(rs, key=lambda r: r["sps"])
        out["variants"][v] = {"flags": PPO_VARIANTS[v], **{k: round(x, 4 if "ms" in k else 1) for k, x in best.items()},
                              "sps_all_rounds": [round(r["sps"], 1) for r in rs]}
    ref = out["variants"][variants[0]]["sps"]
    for v in variants:
        out["variants"][v]["speedup_vs_" + variants[0]] = round(out["variants"][v]["sps"] / ref, 3)
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
    parser.add_argument("--ppo", action="store_true",
                        help="end-to-end PPO with its phase split per learner variant (see the module docstring)")
    parser.add_argument("--ppo-updates", type=int, default=6, help="--ppo: timed PPO updates per variant and round")
    parser.add_argument("--ppo-rounds", type=int, default=2, help="--ppo: rounds; the fastest of each variant counts")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    if args.ppo:
        results = []
        for e in args.env_ids:
            for n in args.num_envs:
                raw = {f"render_threads_{t or 'default'}": measure(
                    e, n, args.device, args.width, args.height, args.steps, args.rounds, args.backend, render_threads=t)
                       for t in (1, None)}
                results.append({"raw": raw, "ppo": measure_ppo(e, n, args.width, args.height, args.ppo_updates,
                                                               args.ppo_rounds)})
        emit({"machine": machine(args.device), "results": results}, args.out)
        return
    results = [measure(e, n, args.device, args.width, args.height, args.steps, args.rounds, args.backend)
               for e in args.env_ids for n in args.num_envs]
    emit({"machine": machine(args.device), "results": results}, args.out)


if __name__ == "__main__":
    main()
