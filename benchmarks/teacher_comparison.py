"""State teacher against depth teacher, each distilled into the same stereo-RGB student.

Trains a PPO teacher on ``DexGrasp-State-v0`` and one on ``DexGrasp-Depth-v0`` with the same
budget and task, distils each with ``algos/dagger.py`` into a ``DexGrasp-StereoRGB-v0`` student
with the same budget, and reports each student beside its teacher on the same worlds (success
rate and mean return) and its held-out action error.

    # CPU scale (about 40 minutes on 2 cores): the reaching part of the task, small images
    python benchmarks/teacher_comparison.py --preset cpu --out benchmarks/results/teacher_comparison_cpu.json
    # GPU scale (the paper's): full task, 160x120
    python benchmarks/teacher_comparison.py --preset gpu --learner-device cuda:0 --sim-devices cuda:1 cuda:2
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_script, machine  # noqa: E402

from dexgrasp_env.config import CameraConfig, EnvConfig, PoolConfig, RewardConfig, SensorsConfig  # noqa: E402

PRESETS = {
    # the reaching part of the task (lift and goal terms off) at 48x48, so that CPU minutes show learning
    "cpu": dict(env=EnvConfig(episode_length_s=1.5, sensors=SensorsConfig.static(CameraConfig(width=48, height=48)),
                              reward=RewardConfig(lift=0.0, object_to_goal=0.0)),
                teacher_envs=64, teacher_steps=100_000, student_envs=32, student_steps=60_000, eval_episodes=32,
                ppo=dict(init_log_std=-1.0, gamma=0.99)),
    "gpu": dict(env=EnvConfig(sensors=SensorsConfig.static(CameraConfig(width=160, height=120))), teacher_envs=4096,
                teacher_steps=300_000_000, student_envs=1024, student_steps=50_000_000, eval_episodes=256,
                ppo=dict(num_minibatches=32)),
}




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), default="cpu", help="budget and task size")
    parser.add_argument("--seed", type=int, default=1, help="seed of everything")
    parser.add_argument("--learner-device", default="cpu", help="learner device")
    parser.add_argument("--sim-devices", nargs="*", default=None, help="simulator workers (default in-process)")
    parser.add_argument("--runs", default="runs/teacher_comparison", help="folder for the four runs")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    p = PRESETS[args.preset]
    ppo, dagger = load_script("ppo"), load_script("dagger")
    pool = PoolConfig(learner_device=args.learner_device,
                      sim_devices=tuple(args.sim_devices) if args.sim_devices else None)
    rows = {}
    for teacher_id in ("DexGrasp-State-v0", "DexGrasp-Depth-v0"):
        name = teacher_id.split("-")[1].lower()
        teacher_dir = os.path.join(args.runs, f"teacher_{name}")
        ppo.main(ppo.Args(env_id=teacher_id, num_envs=p["teacher_envs"], total_timesteps=p["teacher_steps"],
                          env=p["env"], pool=pool, seed=args.seed, run_dir=teacher_dir, checkpoint_interval=10**9,
                          progress=False, **p["ppo"]))
        student = dagger.main(dagger.Args(
            teacher=os.path.join(teacher_dir, "checkpoint.pt"), env_id="DexGrasp-StereoRGB-v0", env=p["env"],
            num_envs=p["student_envs"], total_timesteps=p["student_steps"], pool=pool, seed=args.seed,
            run_dir=os.path.join(args.runs, f"student_of_{name}"), eval_interval=10**9,
            eval_episodes=p["eval_episodes"], progress=False))
        rows[f"{name}_teacher"] = {k: student[k] for k in (
            "teacher_success_rate", "teacher_lifted_rate", "teacher_mean_return", "student_success_rate",
            "student_lifted_rate", "student_mean_return", "initial_heldout_action_mse", "heldout_action_mse")}
    emit({"machine": machine(args.learner_device), "preset": args.preset, "seed": args.seed,
          "teachers_steps": p["teacher_steps"], "student_steps": p["student_steps"], "results": rows}, args.out)


if __name__ == "__main__":
    main()
