"""The paper's comparison at CPU scale: StereoRGB students from a state teacher against students from a depth teacher.

Each arm distils one shipped teacher (or a ``algos/ppo.py`` checkpoint) into a ``DexGrasp-StereoRGB-v0``
student with ``algos/dagger.py``: the same task, the same student architecture, the same DAgger settings,
the same step budget and the same seeds. The task is the teachers' own (action mapping, rates, 4 s episodes) at
64x64 under the paper's randomization: ``RandomizationConfig.full()`` (its physics ranges, pushes, observation
noise, lights, colours, the depth camera's model and camera pose noise of 3 cm and 3 degrees, unless
``--no-camera-noise``); ``--physics default`` keeps ``EnvConfig``'s default physics ranges instead (the recorded
run of 2026-12-01). Each teacher labels every step from its own view of the same world, rendered in the same step
(the state, or the depth camera at its resolution). Each teacher is first measured on the task, and probed under
camera pose noise: a depth teacher trained on a fixed camera cannot label worlds whose camera moved.

Every student and every teacher is then evaluated on the same 128 episodes (every shape in turn, one seed no
training run used) under each randomization of ``--eval-randomizations`` (the comparison task's, ``EnvConfig``'s
default, ``RandomizationConfig.full()``), with the per-shape success, and the held-out action error of each student
against its own teacher. A third arm (``--arms``) can separate "trained end to end" from "trained under noise".

    # issue 30's protocol: 3 seeds per arm, 300 k DAgger steps per student (2 CPU cores: about 6 x 35 minutes)
    python benchmarks/stereo_comparison.py --arms "state teacher=state-teacher" "depth teacher=<depth teacher>" \
        --out benchmarks/results/stereo_comparison_cpu-2core_$(date +%F).json
    # the run behind benchmarks/results/stereo_comparison_cpu-2core_2026-12-01.* (2 CPU cores, about 95 minutes)
    python benchmarks/stereo_comparison.py --arms "state teacher=state-teacher-v1" "depth teacher=depth-teacher" \
        --physics default --no-camera-noise --seeds 1 2 3 --student-steps 73728 --time-limit-s 900 \
        --eval-interval 9 --curve-episodes 32 --probe-episodes 16 --eval-randomizations task \
        --out benchmarks/results/stereo_comparison_cpu-2core_$(date +%F).json

Writes the JSON (``--out``) and a PNG beside it: per-arm success with its spread, and the curves.
``--reuse`` evaluates finished runs again instead of training them (a run folder holding a summary.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import distil_or_reuse, emit, load_script, machine

from dexgrasp_env import checkpoints
from dexgrasp_env.compatibility import with_policy_view
from dexgrasp_env.config import CameraConfig, EnvConfig, RandomizationConfig
from dexgrasp_env.evaluation import run_episodes
from dexgrasp_env.models import load_policy
from dexgrasp_env.pretrained import policy_id

EVAL_SEED = 20_261_201
"""The 128 episodes every student and teacher is measured on (no training run resets with it)."""

APPEARANCE = {"light_scale": (0.5, 1.5), "color_noise": 0.15}
"""`RandomizationConfig.full()`'s lights and colours: on for both arms (depth does not see them)."""
CAMERA_NOISE = {"camera_position_noise": 0.03, "camera_rotation_noise_deg": 3.0}
"""`RandomizationConfig.full()`'s camera pose noise (one rigid motion of the whole rig, depth camera included)."""
PROBE_LEVELS = {"none": (0.0, 0.0), "1 cm, 1 deg": (0.01, 1.0), "3 cm, 3 deg": (0.03, 3.0)}
"""Camera pose noise levels at which each teacher is probed on the comparison task."""
EVAL_RANDOMIZATIONS = ("task", "default", "full")
"""Where students and teachers are evaluated: the comparison task's randomization, ``EnvConfig``'s default,
``RandomizationConfig.full()``."""


def comparison_task(teachers: dict[str, EnvConfig], size: int, camera_noise: bool,
                    physics: str = "full") -> EnvConfig:
    """The task both arms distil on: the teachers' common task, ``size`` stereo images (each teacher labels through
    its own sensors: ``dagger.task_config``) under ``RandomizationConfig.full()`` (``physics="full"``) or the default
    physics ranges with appearance randomization (``"default"``); camera pose noise only with ``camera_noise``.

    The teachers must share everything an action means (action mode, rates, episode length, robot); a
    state teacher trained with other physics ranges (ADR) is distilled on the same ranges as the
    other, so that the arms differ in the teacher only.
    """
    if physics not in ("full", "default"):
        raise ValueError(f"physics={physics!r} is unknown; expected 'full' or 'default'")
    base = EnvConfig(episode_length_s=next(iter(teachers.values())).episode_length_s)
    for name, cfg in teachers.items():
        for field in ("action_mode", "action_scale", "palm", "physics_dt", "decimation", "episode_length_s", "robot",
                      "success_threshold", "lift_height"):
            if getattr(cfg, field) != getattr(base, field):
                raise ValueError(f"teacher {name!r} was trained with {field}={getattr(cfg, field)!r}, the comparison "
                                 f"task has {getattr(base, field)!r}: both arms must act in the same task")
    ranges = RandomizationConfig.full() if physics == "full" else base.randomization
    appearance = APPEARANCE | (CAMERA_NOISE if camera_noise else dict.fromkeys(CAMERA_NOISE))
    return dataclasses.replace(base, obs_mode="stereo_rgb",
                               sensors=dataclasses.replace(base.sensors, stereo=CameraConfig(width=size, height=size)),
                               randomization=dataclasses.replace(ranges, **appearance))


def eval_tasks(task: EnvConfig, names) -> dict[str, EnvConfig]:
    """The comparison task under each randomization of ``names`` (:data:`EVAL_RANDOMIZATIONS`), every shape in turn."""
    ranges = {"task": task.randomization, "default": RandomizationConfig(), "full": RandomizationConfig.full()}
    return {name: dataclasses.replace(task, object_assignment="cycle", randomization=ranges[name]) for name in names}


def with_camera_noise(task: EnvConfig, position: float, rotation_deg: float) -> EnvConfig:
    rc = dataclasses.replace(task.randomization, camera_position_noise=position or None,
                             camera_rotation_noise_deg=rotation_deg or None)
    return dataclasses.replace(task, randomization=rc)


def spread(values: list[float]) -> dict:
    """Sample standard deviation over seeds and the 95% interval of the mean (Student's t)."""
    from scipy import stats

    n = len(values)
    sd = float(np.std(values, ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    mean = float(np.mean(values))
    return {"success_sd": sd, "success_ci95": [mean - half, mean + half]}


def summarize(rows: list[dict]) -> dict:
    """Mean, spread and per-shape mean of one arm's students (their ``success_rate``, ``lifted_rate`` and
    ``success_by_shape`` of one evaluation)."""
    success = [r["success_rate"] for r in rows]
    shapes = rows[0]["success_by_shape"]
    return {"success_mean": float(np.mean(success)), **spread(success),
            "success_min": float(min(success)), "success_max": float(max(success)),
            "lifted_mean": float(np.mean([r["lifted_rate"] for r in rows])),
            "success_by_shape": {n: float(np.mean([r["success_by_shape"][n] for r in rows])) for n in shapes},
            "seeds": len(rows)}


def outcome(arms: dict[str, dict], state: str, depth: str) -> str:
    """Whether the depth-teacher arm beats the state-teacher arm, read off the seeds (not asserted)."""
    a, b = arms[state], arms[depth]
    diff = b["success_mean"] - a["success_mean"]
    if b["success_min"] > a["success_max"]:
        verdict = "the paper's claim holds here: every depth-teacher seed beats every state-teacher seed"
    elif a["success_min"] > b["success_max"]:
        verdict = "against the paper: every state-teacher seed beats every depth-teacher seed"
    else:
        verdict = "no separation at this budget: the seeds of the two arms overlap"
    return f"{verdict} (depth-teacher arm minus state-teacher arm: {diff:+.3f} mean success)"


def plot(per_seed: dict[str, list[dict]], arms: dict[str, dict], out: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1.5, 1.5]})
    colors = dict(zip(per_seed, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for i, (arm, rows) in enumerate(per_seed.items()):
        s = arms[arm]
        axes[0].bar(i, s["success_mean"], yerr=s["success_sd"], color=colors[arm], alpha=0.5, capsize=6)
        axes[0].scatter([i] * len(rows), [r["success_rate"] for r in rows], color=colors[arm], zorder=3)
        axes[0].scatter([i + 0.3], [rows[0]["teacher_success_rate"]], marker="*", s=120, color="k", zorder=3,
                        label="teacher" if i == 0 else None)
        for r in rows:
            for ax, x in ((axes[1], "global_step"), (axes[2], "wall_time_s")):
                scale = 1e3 if x == "global_step" else 60
                ax.plot([p[x] / scale for p in r["curve"]], [p["student_success_rate"] for p in r["curve"]],
                        marker="o", color=colors[arm], alpha=0.8, label=f"{arm} (seed {r['seed']})")
    axes[0].set_xticks(range(len(per_seed)), [f"from {a}" for a in per_seed], fontsize=8)
    axes[0].set_ylabel("student success, the same 128 episodes")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("DAgger environment steps (thousands)")
    axes[2].set_xlabel("wall-clock time (minutes)")
    axes[1].set_ylabel("student success (each run's curve episodes)")
    for ax in axes:
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def arm_names(pairs: list[str]) -> dict[str, str]:
    """``["label=teacher", ...]`` as ``{label: teacher}`` (at least two arms; the first two are compared)."""
    arms = dict(p.split("=", 1) for p in pairs if "=" in p)
    if len(arms) != len(pairs) or len(arms) < 2:
        raise ValueError(f"--arms {pairs}: expected two or more distinct 'label=teacher' pairs")
    return arms


def evaluate(act, tasks: dict[str, EnvConfig], episodes: int) -> dict[str, dict]:
    """Success, lifted rate and per-shape success of ``act`` on the same episodes of each task."""
    out = {}
    for name, task in tasks.items():
        r = run_episodes(act, task, episodes, EVAL_SEED)
        out[name] = {k: r[k] for k in ("success_rate", "lifted_rate", "success_by_shape")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["state teacher=state-teacher", "depth teacher=depth-teacher"],
                        help="'label=teacher' per arm (a shipped name or a ppo.py checkpoint); the first two are "
                             "compared (the paper: a state teacher, then an end-to-end depth teacher)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="DAgger seeds, the same in each arm")
    parser.add_argument("--size", type=int, default=64, help="image width and height of the students")
    parser.add_argument("--physics", choices=("full", "default"), default="full",
                        help="the students' task: RandomizationConfig.full() (the paper's) or the default physics "
                             "ranges with lights and colours randomised")
    parser.add_argument("--camera-noise", action=argparse.BooleanOptionalAction, default=True,
                        help="camera pose noise (3 cm, 3 deg, the whole rig) in the comparison task; a teacher that "
                             "was never trained with it may not label under it (each teacher is probed first)")
    parser.add_argument("--eval-randomizations", nargs="+", choices=EVAL_RANDOMIZATIONS,
                        default=list(EVAL_RANDOMIZATIONS),
                        help="randomizations every student and teacher is evaluated under (the first is compared)")
    parser.add_argument("--probe-episodes", type=int, default=32,
                        help="episodes of each teacher's camera-noise probe (0: none)")
    parser.add_argument("--num-envs", type=int, default=128, help="DAgger environments")
    parser.add_argument("--student-steps", type=int, default=300_000, help="DAgger steps per student (the budget)")
    parser.add_argument("--time-limit-s", type=float, default=None,
                        help="wall-clock cap per student (the same for every arm; reported beside the steps)")
    parser.add_argument("--updates-per-iteration", type=int, default=24,
                        help="DAgger gradient steps per collection (on 2 cores a 1024-sample step of the stereo "
                             "student costs about as much as rendering 70 environment steps: more steps per sample)")
    parser.add_argument("--minibatch-size", type=int, default=512, help="samples per DAgger gradient step")
    parser.add_argument("--eval-interval", type=int, default=20, help="DAgger iterations between curve evaluations")
    parser.add_argument("--curve-episodes", type=int, default=32, help="episodes of each evaluation on the way")
    parser.add_argument("--eval-episodes", type=int, default=128, help="episodes of each final evaluation")
    parser.add_argument("--runs", default="runs/stereo_comparison", help="folder for the student runs")
    parser.add_argument("--out", default=None, help="also write the JSON here (and the PNG beside it)")
    parser.add_argument("--reuse", action="store_true",
                        help="evaluate a run whose folder already holds a finished run instead of training it")
    args = parser.parse_args()
    dagger = load_script("dagger")
    names = arm_names(args.arms)
    teachers = {arm: dagger.load_teacher(name, "cpu") for arm, name in names.items()}
    task = comparison_task({arm: t[2] for arm, t in teachers.items()}, args.size, args.camera_noise, args.physics)
    tasks = eval_tasks(task, args.eval_randomizations)
    first = args.eval_randomizations[0]

    # ---- the teachers on the comparison's episodes, each from its own view ------------------------------
    teacher_rows = {}
    for arm, (program, keys, cfg) in teachers.items():
        act = lambda o, p=program, k=keys: p({x: o[x] for x in k})[0]
        own = {n: with_policy_view(dataclasses.replace(t, obs_mode=cfg.obs_mode), cfg, keys) for n, t in tasks.items()}
        teacher_rows[arm] = evaluate(act, own, args.eval_episodes)
        if args.probe_episodes:
            teacher_rows[arm]["camera_noise_probe"] = {
                level: run_episodes(act, with_camera_noise(own[first], *noise), args.probe_episodes,
                                    EVAL_SEED + 1)["success_rate"] for level, noise in PROBE_LEVELS.items()}
        print(f"{arm} ({names[arm]}): {teacher_rows[arm]}", flush=True)

    # ---- the students: one DAgger run per arm and seed, the same settings -------------------------------
    per_seed: dict[str, list[dict]] = {arm: [] for arm in names}
    for seed in args.seeds:
        for arm, name in names.items():
            run_dir = os.path.join(args.runs, f"{arm.replace(' ', '-')}_seed{seed}")
            stats = distil_or_reuse(run_dir, args.reuse, lambda n=name, d=run_dir, s=seed: dagger.main(dagger.Args(
                teacher=n, env_id="DexGrasp-StereoRGB-v0", use_teacher_task=False, env=task, num_envs=args.num_envs,
                total_timesteps=args.student_steps, time_limit_s=args.time_limit_s, seed=s, run_dir=d,
                eval_interval=args.eval_interval, eval_episodes=args.curve_episodes,
                updates_per_iteration=args.updates_per_iteration, minibatch_size=args.minibatch_size, progress=False)))
            ckpt = checkpoints.load(os.path.join(run_dir, "checkpoint.pt"))
            student, keys = load_policy(ckpt["policy_export"]), tuple(ckpt["student_keys"])
            evals = evaluate(lambda o, p=student, ks=keys: p({k: o[k] for k in ks})[0], tasks, args.eval_episodes)
            row = evals[first] | {
                "evaluations": evals, "seed": seed, "teacher_success_rate": teacher_rows[arm][first]["success_rate"],
                "dagger_steps": stats["global_step"], "wall_time_s": stats["wall_time_s"],
                "heldout_action_mse": stats["heldout_action_mse"],
                "initial_heldout_action_mse": stats["initial_heldout_action_mse"], "curve": stats["curve"],
                "checkpoint": os.path.join(run_dir, "checkpoint.pt")}
            per_seed[arm].append(row)
            print(f"{arm}, seed {seed}: success {row['success_rate']:.3f} ({first}) after {row['dagger_steps']} "
                  f"steps, {row['wall_time_s']:.0f} s; held-out action MSE {row['heldout_action_mse']:.3f}", flush=True)

    arms = {arm: summarize(rows) | {
        "evaluations": {n: summarize([r["evaluations"][n] for r in rows]) for n in tasks},
        "heldout_action_mse_mean": float(np.mean([r["heldout_action_mse"] for r in rows])),
        "dagger_steps_mean": float(np.mean([r["dagger_steps"] for r in rows])),
        "wall_time_s_mean": float(np.mean([r["wall_time_s"] for r in rows])),
        "teacher": names[arm], "teacher_id": policy_id(names[arm]), "teacher_on_task": teacher_rows[arm]}
        for arm, rows in per_seed.items()}
    state_arm, depth_arm = list(names)[:2]
    result = {"machine": machine(), "task": checkpoints.to_plain(task), "eval_seed": EVAL_SEED,
              "eval_randomizations": args.eval_randomizations, "compared_under": first,
              "budget": {"student_steps": args.student_steps, "time_limit_s": args.time_limit_s,
                         "num_envs": args.num_envs, "updates_per_iteration": args.updates_per_iteration,
                         "minibatch_size": args.minibatch_size}, "physics": args.physics,
              "camera_noise": args.camera_noise, "arms": arms, "outcome": outcome(arms, state_arm, depth_arm),
              "outcome_by_randomization": {n: outcome({a: arms[a]["evaluations"][n] for a in arms}, state_arm,
                                                      depth_arm) for n in tasks},
              "runs": per_seed}
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        result["figure"] = plot(per_seed, arms, os.path.splitext(args.out)[0] + ".png",
                                f"StereoRGB {args.size}x{args.size} students by DAgger, {args.student_steps} steps "
                                f"each, {len(args.seeds)} seeds per arm (success under {first})")
    emit(result, args.out)


if __name__ == "__main__":
    main()
