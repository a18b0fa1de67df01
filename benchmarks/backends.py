"""Both physics backends side by side, in one run, on the same model and worlds (issue: a C MuJoCo backend).

Measures, for ``backend="mujoco"`` (C MuJoCo on CPU threads) and ``backend="warp"`` (MuJoCo Warp):

* one environment (``gymnasium.make("DexGrasp-State-v0")``) in steps/s, beside Gymnasium's ``Ant-v5``;
* the State vector env (in-process) at 64 / 256 / 1,024 environments, beside the C physics limit on the
  same worlds (``mujoco.rollout`` on every core, ``decimation`` physics steps per env step);
* the Depth vector env at 64 environments, 64x64 and 160x120;
* ``algos/ppo.py`` end to end (SPS) at 512 State environments;
* where one environment's step goes (task layer against physics), by section;
* the State vector env at 1,024 environments for each object set (``--object-sets``: primitives, procedural,
  ycb), each set and backend in its own process, with the process's peak resident memory and the
  simulator's bytes per world.

    python benchmarks/backends.py --out benchmarks/results/backends_cpu-2core_$(date +%F).json
    python benchmarks/backends.py --only object_sets --out benchmarks/results/object_sets_cpu-2core_$(date +%F).json
    python benchmarks/backends.py --only single_env state_vector --sizes 1024 \
        --out benchmarks/results/single_env_cpu-2core_$(date +%F).json
    python benchmarks/backends.py --quick          # tiny sizes: checks the script runs (tests)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, emit, machine, timed  # noqa: E402

import dexgrasp_env  # noqa: E402,F401
from dexgrasp_env.config import CameraConfig  # noqa: E402

BACKENDS = ("mujoco", "warp")


def single_env_rate(env: gym.Env, seconds: float) -> float:
    """Steps per second of one environment with zero actions (resetting at episode ends)."""
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, np.float32)
    for _ in range(20):
        env.step(action)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        steps += 50
    return steps / (time.perf_counter() - start)


def interleaved_ratio(reference: gym.Env, env: gym.Env, rounds: int, seconds: float) -> dict:
    """``env``'s steps per second over ``reference``'s in ``rounds`` alternating rounds (reference, env, reference,
    env, ...), one ratio per round's pair, and their median. Why: on a shared machine whose speed drifts by a quarter
    within a minute (``Ant-v5`` ran 2,122 then 1,599 steps/s in one run), the median of paired ratios is steadier than
    one ratio of two averages taken a minute apart."""
    pairs = [(single_env_rate(reference, seconds), single_env_rate(env, seconds)) for _ in range(rounds)]
    ratios = [b / a for a, b in pairs]
    return {"steps_per_s": [[round(a, 1), round(b, 1)] for a, b in pairs], "ratios": [round(r, 3) for r in ratios],
            "median": round(float(np.median(ratios)), 3)}


def vector_rate(env_id: str, num_envs: int, backend: str, steps: int, **kw) -> tuple[float, object]:
    """Environment steps per second of the in-process vector env with random actions."""
    env = gym.make_vec(env_id, num_envs=num_envs, backend=backend, **kw)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    act = lambda: torch.rand(num_envs, *env.single_action_space.shape, generator=gen) * 2 - 1  # noqa: E731
    for _ in range(3):
        env.step(act())
    start = time.perf_counter()
    for _ in range(steps):
        env.step(act())
    rate = num_envs * steps / (time.perf_counter() - start)
    return rate, env


def physics_limit(env, steps: int) -> float:
    """Env steps per second of ``mujoco.rollout`` alone on the vector env's own C worlds (all cores)."""
    import mujoco
    from mujoco import rollout

    from dexgrasp_env.sim.base import available_cores

    sim = env.unwrapped._shards[0].task.sim
    threads = available_cores()
    datas = [mujoco.MjData(sim.models[0]) for _ in range(threads)]
    n, decimation = sim.num_worlds, sim.cfg.decimation
    state = sim._state.copy()
    ctrl = np.repeat(sim.ctrl.double().numpy()[:, None, :], decimation, axis=1)
    out = np.zeros((n, decimation, state.shape[1]))
    spec = int(mujoco.mjtState.mjSTATE_CTRL)
    with rollout.Rollout(nthread=threads) as pool:
        pool.rollout(sim.models, datas, state, ctrl, control_spec=spec, skip_checks=True, nstep=decimation, state=out)
        start = time.perf_counter()
        for _ in range(steps):
            pool.rollout(sim.models, datas, state, ctrl, control_spec=spec, skip_checks=True, nstep=decimation,
                         state=out)
            state[:] = out[:, -1]
        return n * steps / (time.perf_counter() - start)


def single_env_profile(backend: str, steps: int = 500) -> dict:
    """Where one environment's step goes, in microseconds per step: the wrapper, the task layer's
    action map (palm IK and synergies), the physics (with the C backend's frame sensors), and the rest of the
    task layer (rewards, flags, observation). At one environment it is mostly per-call overhead."""
    env = gym.make("DexGrasp-State-v0", backend=backend)
    env.reset(seed=0)
    task = env.unwrapped.task
    timers = {"task": 0.0, "physics": 0.0, "actions": 0.0}
    originals = (task.step, task.sim.step, task.action_map.targets)
    task.step, task.sim.step = timed(task.step, timers, "task"), timed(task.sim.step, timers, "physics")
    task.action_map.targets = timed(task.action_map.targets, timers, "actions")
    action = np.zeros(env.action_space.shape, np.float32)
    for _ in range(20):
        env.step(action)
    timers.update(dict.fromkeys(timers, 0.0))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(action)
    total = time.perf_counter() - start
    task.step, task.sim.step, task.action_map.targets = originals
    env.close()
    us = {k: v / steps * 1e6 for k, v in timers.items()}
    return {"env_step_us": round(total / steps * 1e6, 1), "physics_us": round(us["physics"], 1),
            "action_map_us": round(us["actions"], 1),
            "rest_of_task_layer_us": round(us["task"] - us["physics"] - us["actions"], 1),
            "env_wrapper_us": round(total / steps * 1e6 - us["task"], 1)}


def ppo_sps(backend: str, num_envs: int, updates: int, quick: bool = False) -> float:
    """End-to-end SPS of algos/ppo.py (startup excluded: the script measures from its first update); ``quick``:
    0.5 s episodes and one evaluation episode (a check that it runs)."""
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [sys.executable, os.path.join(ROOT, "algos", "ppo.py"), "--num-envs", str(num_envs),
               "--total-timesteps", str(num_envs * 16 * updates), "--env.backend", backend,
               "--env.episode-length-s", "0.5" if quick else "4", "--gamma", "0.99", "--init-log-std", "-0.5",
               "--eval-episodes", "1" if quick else "16",
               "--checkpoint-interval", "100000", "--run-dir", run_dir, "--no-progress"]
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
        with open(os.path.join(run_dir, "summary.json")) as f:
            return float(json.load(f)["final"]["sps"])


def object_set_row(object_set: str, backend: str, num_envs: int, steps: int) -> dict:
    """One set on one backend (run in a fresh process: the peak resident memory is this set's alone)."""
    import resource

    t0 = time.perf_counter()
    rate, env = vector_rate("DexGrasp-State-v0", num_envs, backend, steps, object_set=object_set)
    sim = env.unwrapped._shards[0].task.sim
    row = {"env_steps_per_s": round(rate, 1), "build_and_measure_s": round(time.perf_counter() - t0, 1),
           "sim_bytes_per_world": int(sim.memory_bytes() / num_envs),
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    env.close()
    return row


def object_sets(sets: list[str], num_envs: int, steps: dict, isolate: bool = True) -> dict:
    """:func:`object_set_row` for every set and backend, each in its own process (``isolate``; else in this one:
    the peak memory is then the largest so far), and the rate ratios."""
    out: dict = {"num_envs": num_envs, "isolated_processes": isolate}
    for backend in BACKENDS:
        out[backend] = {}
        for name in sets:
            if not isolate:
                out[backend][name] = object_set_row(name, backend, num_envs, steps[backend])
                continue
            cmd = [sys.executable, os.path.abspath(__file__), "--object-set-row", name, backend, str(num_envs),
                   str(steps[backend])]
            res = subprocess.run(cmd, check=True, capture_output=True, text=True)
            out[backend][name] = json.loads(res.stdout.strip().splitlines()[-1])
        base = out[backend].get("primitives", {}).get("env_steps_per_s")
        for name in sets:
            if base:
                out[backend][name]["over_primitives"] = round(out[backend][name]["env_steps_per_s"] / base, 3)
    return out


def single_env_section(seconds: float, profile_steps: int, rounds: int) -> dict:
    """One environment of each backend beside ``Ant-v5``, interleaved with Ant twice (drift on a noisy machine
    shows); the C backend against Ant in ``rounds`` alternating rounds (:func:`interleaved_ratio`); and where the C
    backend's step goes."""
    out: dict = {}
    ant = gym.make("Ant-v5")
    envs = {backend: gym.make("DexGrasp-State-v0", backend=backend) for backend in BACKENDS}
    for backend in BACKENDS:
        out.setdefault("ant_v5_steps_per_s", []).append(round(single_env_rate(ant, seconds), 1))
        out[backend] = round(single_env_rate(envs[backend], seconds), 1)
    ant_rate = float(np.mean(out["ant_v5_steps_per_s"]))
    out["mujoco_over_ant"] = round(out["mujoco"] / ant_rate, 3)
    out["mujoco_over_ant_interleaved"] = interleaved_ratio(ant, envs["mujoco"], rounds, seconds / 2)
    out["profile_mujoco"] = single_env_profile("mujoco", profile_steps)
    return out


def state_vector_section(sizes: tuple[int, ...], steps, quick: bool) -> dict:
    """The State vector env of each backend at each size, beside the C physics limit on the same worlds."""
    out: dict = {}
    for n in sizes:
        row = {}
        for backend in BACKENDS:
            if backend == "warp" and n > 256 and quick:
                continue
            rate, env = vector_rate("DexGrasp-State-v0", n, backend, steps(n))
            row[backend] = round(rate, 1)
            if backend == "mujoco":
                row["c_physics_limit"] = round(physics_limit(env, steps(n)), 1)
                row["mujoco_over_limit"] = round(rate / row["c_physics_limit"], 3)
            env.close()
        row["mujoco_over_warp"] = round(row["mujoco"] / row["warp"], 2) if "warp" in row else None
        out[str(n)] = row
    return out


def depth_vector_section(quick: bool) -> dict:
    out: dict = {}
    for w, h in ((64, 64), (160, 120)):
        row = {}
        for backend in BACKENDS:
            rate, env = vector_rate("DexGrasp-Depth-v0", 4 if quick else 64, backend, 2 if quick else 10,
                                    camera=CameraConfig(width=w, height=h))
            row[backend] = round(rate, 1)
            env.close()
        row["mujoco_over_warp"] = round(row["mujoco"] / row["warp"], 2)
        out[f"{w}x{h}"] = row
    return out


def ppo_section(quick: bool) -> dict:
    out = {backend: ppo_sps(backend, 16 if quick else 512, 2 if quick else 12, quick) for backend in BACKENDS}
    out["mujoco_over_warp"] = round(out["mujoco"] / out["warp"], 2)
    return out


SECTIONS = ("single_env", "state_vector", "depth_vector", "ppo_sps_512", "object_sets")
"""The sections of the record, in order; ``--only`` runs some of them."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a check that the script runs)")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None,
                        help="run these sections only (e.g. single_env state_vector: one environment against Ant-v5, "
                             "and the State vector env against the C physics limit)")
    parser.add_argument("--sizes", nargs="+", type=int, default=None,
                        help="State vector env sizes (default 64 256 1024; --quick 8)")
    parser.add_argument("--object-sets", nargs="+", default=["primitives", "procedural", "ycb"],
                        help="object sets of the object_sets section (named sets or folders)")
    parser.add_argument("--object-set-row", nargs=4, metavar=("SET", "BACKEND", "NUM_ENVS", "STEPS"),
                        help=argparse.SUPPRESS)  # one row of the object_sets section, in its own process
    args = parser.parse_args()
    if args.object_set_row:
        name, backend, n, k = args.object_set_row
        print(json.dumps(object_set_row(name, backend, int(n), int(k))))
        return
    q = args.quick
    set_sizes = (8, {"mujoco": 2, "warp": 2}) if q else (1024, {"mujoco": 40, "warp": 4})
    sizes = tuple(args.sizes) if args.sizes else (8,) if q else (64, 256, 1024)
    steps = lambda n: 2 if q else max(10, 20480 // n)  # noqa: E731
    run = {"single_env": lambda: single_env_section(0.2 if q else 4.0, 50 if q else 1000, 1 if q else 7),
           "state_vector": lambda: state_vector_section(sizes, steps, q),
           "depth_vector": lambda: depth_vector_section(q),
           "ppo_sps_512": lambda: ppo_section(q),
           "object_sets": lambda: object_sets(args.object_sets, *set_sizes, not q)}
    results = {name: run[name]() for name in SECTIONS if args.only is None or name in args.only}
    emit({"machine": machine(), "results": results}, args.out)


if __name__ == "__main__":
    main()
