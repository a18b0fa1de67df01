"""Does a depth encoder still find the object under a real sensor's errors? A supervised probe, per encoding.

An encoder and a linear head learn, supervised, where the object is from rendered depth frames (the
probe of ``tests/test_models.py``); then they locate it in frames of the *same worlds* seen through a
perturbed sensor: camera pose error, dropout, noise, the full depth-camera model of
:mod:`dexgrasp_env.depth_noise`. Each depth encoding (``dexgrasp_env.models.DEPTH_ENCODINGS``) is trained on
clean frames and, separately, on frames with the sensor's errors (training under noise), and tested on every
perturbation. The error is the mean distance (cm) between the predicted and the true object position.

    python benchmarks/depth_encoding.py --out benchmarks/results/depth_encoding_cpu-2core_<date>.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine  # noqa: E402

from dexgrasp_env.config import DEPTH_NOISE_FIELDS, RandomizationConfig, make_env_config  # noqa: E402
from dexgrasp_env.models import DEPTH_ENCODINGS, ObsEncoder  # noqa: E402
from dexgrasp_env.spaces import STATE_SLICES, key_spaces  # noqa: E402
from dexgrasp_env.task import GraspTask  # noqa: E402

_FULL = RandomizationConfig.full()
PERTURBATIONS = {
    "none": {},
    "camera 1 cm, 1 deg": dict(camera_position_noise=0.01, camera_rotation_noise_deg=1.0),
    "dropout 2%": dict(depth_dropout=0.02),
    "noise 5 mm + dropout 2%": dict(depth_noise_std=0.005, depth_dropout=0.02),
    "depth camera model": {f: getattr(_FULL, f) for f in DEPTH_NOISE_FIELDS},
    "camera 3 cm, 3 deg + depth camera model": dict(camera_position_noise=0.03, camera_rotation_noise_deg=3.0,
                                                     **{f: getattr(_FULL, f) for f in DEPTH_NOISE_FIELDS}),
}
"""Sensor perturbations (fields of ``RandomizationConfig`` on top of nominal physics)."""
TRAIN_NOISE = "camera 3 cm, 3 deg + depth camera model"
"""The perturbation of the noisy training frames."""


def render(perturbation: dict, envs: int, size: int, fovy: float, target, seed: int = 0) -> dict:
    """Depth frames and the object's position: reset + two bursts of random actions (the same worlds and
    actions for every perturbation: only the sensor differs)."""
    rc = dataclasses.replace(RandomizationConfig.none(), **perturbation)
    cfg = make_env_config("depth", camera=dict(width=size, height=size, fovy=fovy, target=tuple(target)),
                          extra_obs=("state",), randomization=rc)
    task = GraspTask(cfg, envs, "cpu", autoreset_mode="disabled")
    obs = task.reset(seed=seed)
    rows = [obs]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(2):
        for _ in range(5):
            obs, *_ = task.step(torch.rand(envs, task.action_dim, generator=gen) * 2 - 1)
        rows.append(obs)
    task.close()
    return {"depth": torch.cat([r["depth"] for r in rows]),
            "target": torch.cat([r["state"][:, STATE_SLICES["object_pos"]] for r in rows]), "spaces": key_spaces(cfg)}


def locate(train: dict, tests: dict[str, dict], encoding: str = "pixel", steps: int = 300, seed: int = 1,
           keys=("depth",)) -> dict[str, float]:
    """Train an encoder + linear head on 7/8 of ``train``'s frames; the mean error (m) on the other 1/8 of each
    frame set in ``tests`` (the same worlds, so the held-out eighth is the same worlds in every set), and the
    predict-the-mean baseline under ``"baseline"``."""
    torch.manual_seed(seed)
    n = train["target"].shape[0]
    perm = torch.randperm(n)
    held, fit = perm[: n // 8], perm[n // 8:]
    encoder = ObsEncoder(train["spaces"], keys, depth_encoding=encoding)
    encoder.update_norms({k: train[k][fit] for k in keys})
    head = torch.nn.Linear(encoder.out_dim, 3)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-3)
    mu = train["target"][fit].mean(0)
    for _ in range(steps):
        idx = fit[torch.randint(0, len(fit), (64,))]
        loss = ((head(encoder({k: train[k][idx] for k in keys})) + mu - train["target"][idx]) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = {}
    with torch.no_grad():
        for name, data in tests.items():
            pred = head(encoder({k: data[k][held] for k in keys})) + mu
            out[name] = (pred - data["target"][held]).norm(dim=1).mean().item()
    out["baseline"] = (train["target"][held] - mu).norm(dim=1).mean().item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=256, help="worlds rendered (3 frames each)")
    parser.add_argument("--size", type=int, default=32, help="image width and height")
    parser.add_argument("--fovy", type=float, default=30.0, help="vertical field of view (degrees)")
    parser.add_argument("--target", type=float, nargs=3, default=(0.6, 0.0, 0.18), help="where the camera looks")
    parser.add_argument("--steps", type=int, default=300, help="supervised steps of each probe")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    start = time.perf_counter()
    frames = {name: render(p, args.envs, args.size, args.fovy, args.target) for name, p in PERTURBATIONS.items()}
    rows = {}
    for encoding in DEPTH_ENCODINGS:
        for trained_on in ("none", TRAIN_NOISE):
            err = locate(frames[trained_on], frames, encoding, args.steps)
            rows[f"{encoding}, trained on {trained_on}"] = {k: round(100 * v, 2) for k, v in err.items()}
            print(f"{encoding}, trained on {trained_on}: " + ", ".join(f"{k} {100 * v:.1f} cm" for k, v in err.items()),
                  flush=True)
    emit({"machine": machine(), "camera": {"size": args.size, "fovy": args.fovy, "target": list(args.target)},
          "frames": 3 * args.envs, "steps": args.steps, "train_noise": TRAIN_NOISE,
          "perturbations": {k: dict(v) for k, v in PERTURBATIONS.items()}, "error_cm": rows,
          "wall_s": round(time.perf_counter() - start, 1)}, args.out)


if __name__ == "__main__":
    main()
