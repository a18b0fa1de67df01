"""Pixel PPO's throughput where training runs: in the states of a policy that grasps, with evaluations and
checkpoints, split into physics, render, task layer, policy, learner, evaluation and checkpoints.

Why: ``throughput.py --ppo`` drives the worlds with a fresh policy near the start pose, which misses the contacts,
lifts and resets of late training and the run's evaluations; it overstated the sustained rate of the 2-hour
``depth-scratch`` run by about 1.5x. Here the shipped ``depth-scratch`` policy acts in both parts:

* **rollout split**: its own task (the recipe's, ``num_envs`` worlds, in-process), the shipped policy's
  deterministic actions for ``--steps`` control steps (whole episodes: grasps, lifts, time-outs, resets), with
  the simulator's step (physics and the frame kinematics), its render, the action map and the rest of the task
  layer timed apart;
* **PPO phases**: ``algos/ppo.py`` with the recipe's arguments (its layout: the simulator in a worker process),
  started from the shipped actor (``--init-actor depth-scratch``), for ``--updates`` timed updates after
  ``--warmup-updates`` (one whole episode; until 2026-12-07 the timed updates were the first steps from a
  reset, which miss the grasps), and one evaluation and checkpoint of the recipe's size. The sustained rate
  counts an evaluation every ``eval_interval`` and a checkpoint every ``checkpoint_interval`` updates, as the
  recipe runs them.

The environment phase of PPO minus the in-process step is what the pool adds (the worker's transport and the
learner's copies). Every recipe of ``--recipes`` is measured in the same run, after the first one as it ran before
2026-12-07 (every geom ray traced every step), the baseline of the speed-ups in ``sustained_speedup``.

    python benchmarks/in_training.py --out benchmarks/results/in_training_cpu-2core_$(date +%F).json
    python benchmarks/in_training.py --recipes depth-scratch --no-baseline     # one recipe as it runs today
    python benchmarks/in_training.py --quick        # tiny sizes: checks the script runs (tests)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_script, machine, timed  # noqa: E402

import dexgrasp_env  # noqa: E402
from dexgrasp_env.task import GraspTask  # noqa: E402


def rollout_split(policy_name: str, cfg, num_envs: int, steps: int) -> dict:
    """Microseconds per environment step of each part of the rollout, the shipped policy acting."""
    policy, _ = dexgrasp_env.load_pretrained(policy_name)
    task = GraspTask(cfg, num_envs, "cpu")
    sim = task.sim
    timers = {"physics": 0.0, "render": 0.0, "action_map": 0.0}
    sim.step, sim.render = timed(sim.step, timers, "physics"), timed(sim.render, timers, "render")
    task.action_map.targets = timed(task.action_map.targets, timers, "action_map")
    obs = task.reset(seed=0)
    step_s = policy_s = 0.0
    lifted = ended = 0
    with torch.inference_mode():
        for i in range(steps + 10):
            if i == 10:  # warm-up done
                timers.update(dict.fromkeys(timers, 0.0))
                step_s = policy_s = 0.0
            t0 = time.perf_counter()
            actions = policy(obs)
            t1 = time.perf_counter()
            obs, _, _, _, info = task.step(actions)
            t2 = time.perf_counter()
            policy_s, step_s = policy_s + t1 - t0, step_s + t2 - t1
            done = info["_episode_stats"]
            ended += int(done.sum())
            lifted += int((info["episode_stats"]["lifted"] & done).sum())
    task.close()
    per = 1e6 / (steps * num_envs)
    task_layer = step_s - timers["physics"] - timers["render"] - timers["action_map"]
    return {"num_envs": num_envs, "steps": steps, "episodes_ended": ended, "episodes_lifted": lifted,
            "us_per_env_step": {"physics": round(timers["physics"] * per, 1),
                                "render": round(timers["render"] * per, 1),
                                "action_map": round(timers["action_map"] * per, 1),
                                "rest_of_task_layer": round(task_layer * per, 1),
                                "env_step_in_process": round(step_s * per, 1),
                                "policy_deterministic": round(policy_s * per, 1)}}


def ppo_run_phases(ppo, args, updates: int, quick: bool) -> dict:
    """The phase totals of ``ppo.main`` for ``updates`` updates (its first one untimed) from the shipped actor."""
    n, t = args.num_envs, args.num_steps
    with tempfile.TemporaryDirectory() as run_dir:
        run = dataclasses.replace(args, run_dir=run_dir, progress=False, total_timesteps=updates * t * n,
                                  eval_interval=0, eval_episodes=1 if quick else args.eval_episodes,
                                  time_limit_s=None, track=False)
        return ppo.main(run)["phases"]


def ppo_phases(ppo, args, updates: int, warmup: int, quick: bool) -> dict:
    """``updates`` timed PPO updates after ``warmup`` updates from the shipped actor; microseconds per sample of each
    phase and the sustained rate with the recipe's evaluation and checkpoint intervals.

    Why a warm-up: every world starts from a reset together, and the first episode's first steps (the hand still
    reaching into the camera's view, no contact) cost less than training's mix of grasps, lifts and resets. The
    timed updates are the difference of two runs, ``warmup + updates`` updates and ``warmup`` (the same seed: the
    same first ``warmup`` updates); the evaluation and the checkpoint are the longer run's."""
    n, t = args.num_envs, args.num_steps
    ph = ppo_run_phases(ppo, args, warmup + updates + 1, quick)
    if warmup:
        before = ppo_run_phases(ppo, args, warmup + 1, quick)
        ph = dict(ph, **{k: ph[k] - before[k] for k in ("updates", "steps", "env_s", "act_s", "learn_s")})
    per = 1e6 / ph["steps"]
    eval_s = ph["eval_s"] / max(ph["evaluations"], 1)
    ckpt_s = ph["checkpoint_s"] / max(ph["checkpoints"], 1)
    update_s = (ph["env_s"] + ph["act_s"] + ph["learn_s"]) / ph["updates"]
    sustained_update_s = update_s + eval_s / args.eval_interval + ckpt_s / args.checkpoint_interval
    return {"updates_timed": ph["updates"], "warmup_updates": warmup, "samples_per_update": t * n,
            "us_per_sample": {"env": round(ph["env_s"] * per, 1), "policy": round(ph["act_s"] * per, 1),
                              "learner": round(ph["learn_s"] * per, 1),
                              "evaluation": round(eval_s / args.eval_interval / (t * n) * 1e6, 1),
                              "checkpoint": round(ckpt_s / args.checkpoint_interval / (t * n) * 1e6, 1)},
            "one_evaluation_s": round(eval_s, 2), "eval_episodes": 1 if quick else args.eval_episodes,
            "eval_interval": args.eval_interval, "one_checkpoint_s": round(ckpt_s, 3),
            "checkpoint_interval": args.checkpoint_interval,
            "sps_without_evaluations": round(t * n / update_s, 1),
            "sustained_sps": round(t * n / sustained_update_s, 1)}


def measure(ppo, recipe, policy: str, steps: int, updates: int, warmup: int, quick: bool) -> dict:
    """The rollout split and the PPO phases of one configuration."""
    if quick:
        recipe = dataclasses.replace(recipe, num_envs=8, num_steps=4, num_minibatches=2)
    recipe = dataclasses.replace(recipe, init_actor=policy)
    out = {"rollout_split": rollout_split(policy, ppo.env_config(recipe), recipe.num_envs, steps),
           "ppo": ppo_phases(ppo, recipe, updates, warmup, quick)}
    out["pool_overhead_us_per_env_step"] = round(
        out["ppo"]["us_per_sample"]["env"] - out["rollout_split"]["us_per_env_step"]["env_step_in_process"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["depth-scratch", "depth-scratch-hour"],
                        help="algos/ppo.py recipes whose training is measured, side by side")
    parser.add_argument("--no-baseline", action="store_true",
                        help="leave out the first recipe as it ran before 2026-12-07 (every geom ray traced every "
                             "step: --env.no-render-static-once), against which the speed-ups are given")
    parser.add_argument("--policy", default="depth-scratch", help="shipped policy that acts (trained on the recipe)")
    parser.add_argument("--steps", type=int, default=480, help="control steps of the rollout split (240: one episode)")
    parser.add_argument("--updates", type=int, default=6, help="timed PPO updates")
    parser.add_argument("--warmup-updates", type=int, default=15,
                        help="PPO updates before the timed ones (15 x 16 steps: one whole episode, its reset "
                             "included); 0: time the first steps from a reset, as before 2026-12-07")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a check that the script runs; no warm-up: "
                        "the difference of two tiny runs' timings is noise)")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    ppo = load_script("ppo")
    configs = {}
    if not args.no_baseline:
        first = ppo.RECIPES[args.recipes[0]][1]
        configs[f"{args.recipes[0]} (before 2026-12-07)"] = dataclasses.replace(
            first, env=dataclasses.replace(first.env, render_static_once=False))
    configs.update({name: ppo.RECIPES[name][1] for name in args.recipes})
    steps = 250 if args.quick else args.steps  # quick: one whole episode of 8 worlds (240 steps) and its reset
    results = {"policy": args.policy, "configurations": {}}
    for name, recipe in configs.items():
        print(f"measuring {name}", file=sys.stderr, flush=True)
        results["configurations"][name] = measure(ppo, recipe, args.policy, steps, 1 if args.quick else args.updates,
                                                  0 if args.quick else args.warmup_updates, args.quick)
    runs = results["configurations"]
    base = runs[next(iter(runs))]["ppo"]["sustained_sps"]
    results["sustained_speedup"] = {name: round(r["ppo"]["sustained_sps"] / base, 3) for name, r in runs.items()}
    for name, r in runs.items():
        print(f"{name}: {r['ppo']['sustained_sps']:,.0f} SPS sustained ({results['sustained_speedup'][name]}x); "
              f"rollout us/step {r['rollout_split']['us_per_env_step']}; PPO us/sample {r['ppo']['us_per_sample']}",
              file=sys.stderr)
    emit({"machine": machine(), "results": results}, args.out)


if __name__ == "__main__":
    main()
