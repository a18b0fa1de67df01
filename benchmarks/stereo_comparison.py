"""The paper's comparison at CPU scale: StereoRGB students from a state teacher against students from a depth teacher.

Each arm distils one shipped teacher (or a ``algos/ppo.py`` checkpoint) into a ``DexGrasp-StereoRGB-v0``
student with ``algos/dagger.py``: the same task, the same student architecture, the same DAgger settings,
the same step budget and the same seeds. The task is the teachers' own (default physics randomization,
4 s episodes, 64x64 images) with appearance randomization on for both arms (lights, colours and, unless
``--no-camera-noise``, camera pose noise), so that no student succeeds by memorising pixels. Each teacher
labels every step from its own view of the same world, rendered in the same step (the state, or the depth
camera at its resolution). Each teacher is first measured on the task, and probed under camera pose noise:
a depth teacher trained on a fixed camera cannot label worlds whose camera moved.

Every student and both teachers are then evaluated on the same 128 episodes (every shape in turn, one
seed no training run used), with the per-shape success and the held-out action error of each student.

    # 2 CPU cores, about 95 minutes (the run behind benchmarks/results/stereo_comparison_cpu-2core_2026-12-01.*)
    python benchmarks/stereo_comparison.py --no-camera-noise --seeds 1 2 3 --student-steps 73728 \
        --time-limit-s 900 --eval-interval 9 --curve-episodes 32 --probe-episodes 16 \
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
from dexgrasp_env.config import CameraConfig, EnvConfig
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


def comparison_task(teachers: dict[str, EnvConfig], size: int, camera_noise: bool) -> EnvConfig:
    """The task both arms distil on: the teachers' common task, appearance randomization on, ``size`` stereo images
    (each teacher labels through its own sensors: ``dagger.task_config``).

    The teachers must share everything an action means (action mode, rates, episode length, robot); a
    state teacher trained with wider physics ranges (ADR) is distilled on the same default ranges as the
    other, so that the arms differ in the teacher only.
    """
    base = EnvConfig(episode_length_s=next(iter(teachers.values())).episode_length_s)
    for name, cfg in teachers.items():
        for field in ("action_mode", "action_scale", "palm", "physics_dt", "decimation", "episode_length_s", "robot",
                      "success_threshold", "lift_height"):
            if getattr(cfg, field) != getattr(base, field):
                raise ValueError(f"teacher {name!r} was trained with {field}={getattr(cfg, field)!r}, the comparison "
                                 f"task has {getattr(base, field)!r}: both arms must act in the same task")
    appearance = APPEARANCE | (CAMERA_NOISE if camera_noise else {})
    return dataclasses.replace(base, obs_mode="stereo_rgb",
                               sensors=dataclasses.replace(base.sensors, stereo=CameraConfig(width=size, height=size)),
                               randomization=dataclasses.replace(base.randomization, **appearance))


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
    """Mean, spread and per-shape mean of one arm's students."""
    success = [r["success_rate"] for r in rows]
    shapes = rows[0]["success_by_shape"]
    return {"success_mean": float(np.mean(success)), **spread(success),
            "success_min": float(min(success)), "success_max": float(max(success)),
            "lifted_mean": float(np.mean([r["lifted_rate"] for r in rows])),
            "heldout_action_mse_mean": float(np.mean([r["heldout_action_mse"] for r in rows])),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-teacher", default="state-teacher-v1",
                        help="arm (a): shipped name or ppo.py checkpoint (default: the teacher of the recorded run; "
                             "state-teacher is the stronger one trained on procedural shapes)")
    parser.add_argument("--depth-teacher", default="depth-teacher", help="arm (b): shipped name or ppo.py checkpoint")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="DAgger seeds, the same in each arm")
    parser.add_argument("--size", type=int, default=64, help="image width and height (the depth teacher's size)")
    parser.add_argument("--camera-noise", action=argparse.BooleanOptionalAction, default=True,
                        help="camera pose noise (3 cm, 3 deg, the whole rig) in the comparison task, besides lights "
                             "and colours; a teacher that was never trained with it may not label under it (each "
                             "teacher is probed at several levels first)")
    parser.add_argument("--probe-episodes", type=int, default=32,
                        help="episodes of each teacher's camera-noise probe (0: none)")
    parser.add_argument("--num-envs", type=int, default=128, help="DAgger environments")
    parser.add_argument("--student-steps", type=int, default=73_728, help="DAgger steps per student (the budget)")
    parser.add_argument("--time-limit-s", type=float, default=None,
                        help="wall-clock cap per student (the same for both arms; reported beside the steps)")
    parser.add_argument("--updates-per-iteration", type=int, default=24,
                        help="DAgger gradient steps per collection (on 2 cores a 1024-sample step of the stereo "
                             "student costs about as much as rendering 70 environment steps: more steps per sample)")
    parser.add_argument("--minibatch-size", type=int, default=512, help="samples per DAgger gradient step")
    parser.add_argument("--eval-interval", type=int, default=20, help="DAgger iterations between curve evaluations")
    parser.add_argument("--curve-episodes", type=int, default=32, help="episodes of each evaluation on the way")
    parser.add_argument("--eval-episodes", type=int, default=128, help="episodes of the final comparison")
    parser.add_argument("--runs", default="runs/stereo_comparison", help="folder for the student runs")
    parser.add_argument("--out", default=None, help="also write the JSON here (and the PNG beside it)")
    parser.add_argument("--reuse", action="store_true",
                        help="evaluate a run whose folder already holds a finished run instead of training it")
    args = parser.parse_args()
    dagger = load_script("dagger")
    names = {"state teacher": args.state_teacher, "depth teacher": args.depth_teacher}
    teachers = {arm: dagger.load_teacher(name, "cpu") for arm, name in names.items()}
    task = comparison_task({arm: t[2] for arm, t in teachers.items()}, args.size, args.camera_noise)
    eval_task = dataclasses.replace(task, object_assignment="cycle")

    # ---- the teachers on the comparison's episodes, each from its own view ------------------------------
    teacher_rows = {}
    for arm, (program, keys, cfg) in teachers.items():
        act = lambda o, p=program, k=keys: p({x: o[x] for x in k})[0]
        own_view = with_policy_view(dataclasses.replace(eval_task, obs_mode=cfg.obs_mode), cfg, keys)
        r = run_episodes(act, own_view, args.eval_episodes, EVAL_SEED)
        teacher_rows[arm] = {k: r[k] for k in ("success_rate", "lifted_rate", "success_by_shape")}
        if args.probe_episodes:
            teacher_rows[arm]["camera_noise_probe"] = {
                level: run_episodes(act, with_camera_noise(own_view, *noise), args.probe_episodes,
                                    EVAL_SEED + 1)["success_rate"] for level, noise in PROBE_LEVELS.items()}
        print(f"{arm} ({names[arm]}) on the comparison task: {teacher_rows[arm]}", flush=True)

    # ---- the students: one DAgger run per arm and seed, the same settings -------------------------------
    per_seed: dict[str, list[dict]] = {arm: [] for arm in names}
    for seed in args.seeds:
        for arm, name in names.items():
            run_dir = os.path.join(args.runs, f"{arm.split()[0]}_seed{seed}")
            stats = distil_or_reuse(run_dir, args.reuse, lambda n=name, d=run_dir, s=seed: dagger.main(dagger.Args(
                teacher=n, env_id="DexGrasp-StereoRGB-v0", use_teacher_task=False, env=task, num_envs=args.num_envs,
                total_timesteps=args.student_steps, time_limit_s=args.time_limit_s, seed=s, run_dir=d,
                eval_interval=args.eval_interval, eval_episodes=args.curve_episodes,
                updates_per_iteration=args.updates_per_iteration, minibatch_size=args.minibatch_size, progress=False)))
            ckpt = checkpoints.load(os.path.join(run_dir, "checkpoint.pt"))
            student, keys = load_policy(ckpt["policy_export"]), tuple(ckpt["student_keys"])
            r = run_episodes(lambda o, p=student, ks=keys: p({k: o[k] for k in ks})[0], eval_task, args.eval_episodes,
                             EVAL_SEED)
            row = {k: r[k] for k in ("success_rate", "lifted_rate", "success_by_shape")} | {
                "seed": seed, "teacher_success_rate": teacher_rows[arm]["success_rate"],
                "dagger_steps": stats["global_step"], "wall_time_s": stats["wall_time_s"],
                "heldout_action_mse": stats["heldout_action_mse"],
                "initial_heldout_action_mse": stats["initial_heldout_action_mse"], "curve": stats["curve"],
                "checkpoint": os.path.join(run_dir, "checkpoint.pt")}
            per_seed[arm].append(row)
            print(f"{arm}, seed {seed}: success {row['success_rate']:.3f} after {row['dagger_steps']} steps, "
                  f"{row['wall_time_s']:.0f} s; held-out action MSE {row['heldout_action_mse']:.3f}", flush=True)

    arms = {arm: summarize(rows) | {"teacher": names[arm], "teacher_id": policy_id(names[arm]),
                                    "teacher_on_task": teacher_rows[arm]}
            for arm, rows in per_seed.items()}
    result = {"machine": machine(), "task": checkpoints.to_plain(task), "eval_seed": EVAL_SEED,
              "budget": {"student_steps": args.student_steps, "time_limit_s": args.time_limit_s,
                         "num_envs": args.num_envs, "updates_per_iteration": args.updates_per_iteration,
                         "minibatch_size": args.minibatch_size}, "camera_noise": args.camera_noise,
              "arms": arms, "outcome": outcome(arms, "state teacher", "depth teacher"), "runs": per_seed}
    if args.out:
        result["figure"] = plot(per_seed, arms, os.path.splitext(args.out)[0] + ".png",
                                f"StereoRGB {args.size}x{args.size} students by DAgger, {args.student_steps} steps "
                                f"each, {len(args.seeds)} seeds per arm")
    emit(result, args.out)


if __name__ == "__main__":
    main()
