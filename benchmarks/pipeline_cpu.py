"""The paper's pipeline at CPU scale: the State teacher distilled (DAgger) into a Depth and a StereoRGB student.

1. The teacher: the shipped ``state-teacher-v1`` (``dexgrasp_env.load_pretrained``; the teacher of the recorded
   results, trained by the CPU recipe in ``algos/ppo.py``), or ``--teacher runs/<run>/checkpoint.pt``.
2. ``algos/dagger.py`` distils it into a ``DexGrasp-Depth-v0`` student and a ``DexGrasp-StereoRGB-v0``
   student at 64x64, each for ``--student-steps`` or ``--time-limit-s``, evaluating on the way.
3. Teacher and students on the same 128 episodes (every shape in turn, the same seed).

Writes the JSON (``--out``) and one learning-curve PNG per student next to it.

    python benchmarks/pipeline_cpu.py --out benchmarks/results/pipeline_cpu-2core_$(date +%F).json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import distil_or_reuse, emit, load_script, machine  # noqa: E402
from plot_curves import plot_students  # noqa: E402

from dexgrasp_env import checkpoints  # noqa: E402
from dexgrasp_env.config import CameraConfig, EnvConfig, SensorsConfig  # noqa: E402
from dexgrasp_env.evaluation import run_episodes  # noqa: E402
from dexgrasp_env.models import load_policy  # noqa: E402
from dexgrasp_env.pretrained import policy_id  # noqa: E402





def _run_args(summary: str) -> dict:
    """The DAgger settings a student was trained with (its run's summary.json), for the record."""
    with open(summary) as f:
        a = json.load(f)["args"]
    return {k: a.get(k) for k in ("env_id", "num_envs", "seed", "total_timesteps", "time_limit_s", "teacher",
                                  "student_last_action", "heldout_envs", "heldout_stride")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="state-teacher-v1",
                        help="shipped policy name or ppo.py checkpoint (default: the teacher of the recorded results)")
    parser.add_argument("--size", type=int, default=64, help="image width and height")
    parser.add_argument("--students", nargs="+", default=["DexGrasp-Depth-v0", "DexGrasp-StereoRGB-v0"],
                        help="student environment ids")
    parser.add_argument("--num-envs", type=int, default=128, help="DAgger environments")
    parser.add_argument("--student-steps", type=int, default=2_000_000, help="DAgger steps per student")
    parser.add_argument("--time-limit-s", type=float, default=None, help="wall-clock limit per student")
    parser.add_argument("--eval-interval", type=int, default=100, help="DAgger iterations between evaluations")
    parser.add_argument("--curve-episodes", type=int, default=32, help="episodes of each evaluation on the way")
    parser.add_argument("--eval-episodes", type=int, default=128, help="episodes of the final comparison")
    parser.add_argument("--seed", type=int, default=1, help="seed of everything")
    parser.add_argument("--runs", default="runs/pipeline_cpu", help="folder for the student runs")
    parser.add_argument("--out", default=None, help="also write the JSON here (and the PNGs beside it)")
    parser.add_argument("--reuse", action="store_true",
                        help="evaluate a student whose run folder already holds a finished run (its checkpoint "
                             "and summary.json, with the command in its args) instead of training it again")
    args = parser.parse_args()
    dagger = load_script("dagger")
    camera = CameraConfig(width=args.size, height=args.size)
    seed = args.seed + 100_003  # the same worlds for the teacher and every student
    rows, curves = {}, {}
    for env_id in args.students:
        name = env_id.split("-")[1].lower()
        run_dir = os.path.join(args.runs, f"student_{name}")
        summary = os.path.join(run_dir, "summary.json")
        stats = distil_or_reuse(run_dir, args.reuse, lambda e=env_id, d=run_dir: dagger.main(dagger.Args(
            teacher=args.teacher, env_id=e, env=EnvConfig(sensors=SensorsConfig.static(camera)), num_envs=args.num_envs,
            total_timesteps=args.student_steps, time_limit_s=args.time_limit_s, seed=args.seed, run_dir=d,
            eval_interval=args.eval_interval, eval_episodes=args.curve_episodes, progress=False)))
        curves[name] = stats["curve"]
        # the final comparison: the student's exported policy on the same 128 episodes as the teacher
        ckpt = checkpoints.load(os.path.join(run_dir, "checkpoint.pt"))
        cfg = checkpoints.env_config(ckpt["env_config"])
        student, keys = load_policy(ckpt["policy_export"]), tuple(ckpt["student_keys"])
        result = run_episodes(lambda o: student({k: o[k] for k in keys})[0],
                              dataclasses.replace(cfg, object_assignment="cycle", extra_obs=()), args.eval_episodes,
                              seed)
        rows[f"{name}_student"] = {k: result[k] for k in ("success_rate", "lifted_rate", "mean_return", "episodes")} | {
            "dagger_steps": stats["global_step"], "wall_time_s": stats["wall_time_s"],
            "heldout_action_mse": stats["heldout_action_mse"],
            "initial_heldout_action_mse": stats["initial_heldout_action_mse"],
            "dagger_args": _run_args(summary)}

    # the teacher on the same episodes (its own task: no images rendered)
    program, keys, cfg = dagger.load_teacher(args.teacher, "cpu")  # a ppo.py checkpoint or a shipped name
    policy = lambda o: program({k: o[k] for k in keys})[0]  # noqa: E731
    teacher = run_episodes(policy, dataclasses.replace(cfg, object_assignment="cycle"), args.eval_episodes, seed)
    rows["teacher"] = {k: teacher[k] for k in ("success_rate", "lifted_rate", "mean_return", "episodes")}
    for name, row in rows.items():
        if name != "teacher":
            row["student_over_teacher_success"] = round(row["success_rate"] / max(teacher["success_rate"], 1e-9), 3)
    result = {"machine": machine(), "teacher": args.teacher, "teacher_id": policy_id(args.teacher),
              "image_size": args.size, "seed": args.seed,
              "num_envs": args.num_envs, "results": rows, "curves": curves}
    if args.out:
        stem = os.path.splitext(args.out)[0]
        result["figures"] = plot_students(curves, stem)
    emit(result, args.out)


if __name__ == "__main__":
    main()
