"""How the depth camera frames the task: what of the goal box and the spawn region it sees, how many pixels
an object covers, and (``--policies``) a depth policy's success on low goals against high goals.

Why: a narrow field of view makes the object on the table larger in a small image (the 30 degree camera of
the from-scratch Depth PPO recipe: about 3 px for 5 cm at 32x32, against 1-2 px at 50 degrees), but the goal
box reaches above the frame of that camera: an object carried to a high goal leaves the policy's view.

    python benchmarks/camera_framing.py                       # the geometry of a few framings
    python benchmarks/camera_framing.py --policies depth-teacher runs/depth-scratch-v3/checkpoint.pt \\
        --episodes 128 --seeds 0 1 --out benchmarks/results/camera_framing_cpu-2core_<date>.json

With ``--policies`` every policy (a shipped name or an ``algos/ppo.py`` checkpoint) runs on its own task,
once with goals drawn from the lower half of the goal box and once from the upper half (the same seeds,
every shape in turn); the geometry of its camera is printed beside.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_script, machine  # noqa: E402

from dexgrasp_env.config import CameraConfig, EnvConfig, SensorsConfig  # noqa: E402
from dexgrasp_env.evaluation import eval_config, run_episodes  # noqa: E402
from dexgrasp_env.robot.scene import TABLE_TOP_Z, focal_length_px, in_camera_view, project_to_camera  # noqa: E402

OBJECT_SIZE = 0.05
"""Width of the object whose pixel footprint is reported (m): the primitives are 4-8 cm across."""


def _grid(low, high, n: int) -> np.ndarray:
    axes = [np.linspace(lo, hi, n) for lo, hi in zip(low, high)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def goal_halves(cfg: EnvConfig) -> dict[str, tuple[tuple, tuple]]:
    """The goal box split at its middle height: ``{"low": (low, high), "high": (low, high)}``."""
    lo, hi = cfg.goal_low, cfg.goal_high
    mid = 0.5 * (lo[2] + hi[2])
    return {"low": (lo, (hi[0], hi[1], mid)), "high": ((lo[0], lo[1], mid), hi)}


def framing(cfg: EnvConfig, n: int = 9) -> dict:
    """Fractions of the goal box (and of its halves) and of the spawn region (at 3 cm above the table) that the
    depth camera sees, and the pixel width of a 5 cm object at the spawn region's centre and at the goal box's."""
    spawn = np.concatenate([_grid(cfg.object_spawn_low, cfg.object_spawn_high, n),
                            np.full((n * n, 1), TABLE_TOP_Z + 0.03)], axis=1)
    centres = {"spawn": spawn.mean(0), "goal": 0.5 * (np.array(cfg.goal_low) + np.array(cfg.goal_high))}
    cam = cfg.sensors.depth
    out = {"camera": {"width": cam.width, "height": cam.height, "fovy": cam.fovy,
                      "position": list(cam.position), "target": list(cam.target)},
           "goal_box_in_view": float(in_camera_view(cfg, _grid(cfg.goal_low, cfg.goal_high, n)).mean()),
           "spawn_region_in_view": float(in_camera_view(cfg, spawn).mean())}
    for half, (lo, hi) in goal_halves(cfg).items():
        out[f"goal_box_{half}_half_in_view"] = float(in_camera_view(cfg, _grid(lo, hi, n)).mean())
    for name, centre in centres.items():
        depth = project_to_camera(cfg, centre[None])[1][0]
        out[f"object_px_at_{name}_centre"] = round(float(OBJECT_SIZE * focal_length_px(cfg.sensors.depth) / depth), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="square image sizes (geometry)")
    parser.add_argument("--fovys", type=float, nargs="+", default=[30.0, 40.0, 50.0],
                        help="vertical fields of view in degrees (geometry)")
    parser.add_argument("--target-heights", type=float, nargs="+", default=[CameraConfig().target[2]],
                        help="heights of the point the camera looks at (m; geometry; x and y as the default)")
    parser.add_argument("--policies", nargs="*", default=[],
                        help="shipped depth policies or algos/ppo.py checkpoints to evaluate on low and high goals")
    parser.add_argument("--episodes", type=int, default=128, help="episodes per seed and goal half")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="evaluation seeds")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()

    x, y, _ = CameraConfig().target
    geometry = [framing(EnvConfig(sensors=SensorsConfig.static(CameraConfig(width=s, height=s, fovy=fovy,
                                                                            target=(x, y, z)))))
                for s in args.sizes for fovy in args.fovys for z in args.target_heights]
    for row in geometry:
        print(row, flush=True)
    dagger = load_script("dagger")
    policies = {}
    for name in args.policies:
        policy, keys, cfg = dagger.load_teacher(name, "cpu")
        if cfg.obs_mode != "depth":
            raise ValueError(f"{name!r} is a {cfg.obs_mode!r} policy; this benchmark compares depth policies")
        cfg = eval_config(cfg)
        row = {"framing": framing(cfg)}
        for half, (lo, hi) in goal_halves(cfg).items():
            task = dataclasses.replace(cfg, goal_low=lo, goal_high=hi)
            runs = [run_episodes(lambda o: policy({k: o[k] for k in keys})[0], task, args.episodes, seed)
                    for seed in args.seeds]
            row[f"{half}_goals"] = {"goal_low": list(lo), "goal_high": list(hi),
                                    "success_rate": float(np.mean([r["success_rate"] for r in runs])),
                                    "lifted_rate": float(np.mean([r["lifted_rate"] for r in runs])),
                                    "success_rate_per_seed": [r["success_rate"] for r in runs]}
            print(name, half, row[f"{half}_goals"], flush=True)
        policies[name] = row
    emit({"benchmark": "camera_framing", "machine": machine(),
          "object_size_m": OBJECT_SIZE, "geometry": geometry, "policies": policies,
          "episodes_per_seed": args.episodes, "seeds": args.seeds}, args.out)


if __name__ == "__main__":
    main()
