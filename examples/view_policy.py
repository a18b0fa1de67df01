"""Run a policy and write an MP4 of its episodes: the shipped State teacher by default, or a checkpoint.

    python examples/view_policy.py --out outputs/teacher.mp4               # the shipped state-teacher lifting objects
    python examples/view_policy.py depth-teacher --out outputs/depth.mp4   # a shipped policy by name
    python examples/view_policy.py runs/<run>/checkpoint.pt --out outputs/policy.mp4

A checkpoint of ``algos/ppo.py`` or ``algos/dagger.py`` carries its exported policy
(``torch.export``) and the task it was trained on as plain data, so this needs neither the training
script nor its classes, and loading it runs no code from the file. The frames show the person's view
beside what the policy sees; with ``--episodes N`` the video plays N episodes, each on a new object.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np
import torch

import dexgrasp_env
from dexgrasp_env import checkpoints
from dexgrasp_env.evaluation import run_episodes
from dexgrasp_env.models import load_policy
from dexgrasp_env.pretrained import available
from dexgrasp_env.wrappers.video import write_mp4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", default="state-teacher",
                        help="a checkpoint.pt of algos/ppo.py or algos/dagger.py, or the name of a shipped policy "
                             f"({', '.join(available())}; default: state-teacher)")
    parser.add_argument("--out", default="outputs/policy.mp4", help="the MP4 to write")
    parser.add_argument("--seed", type=int, default=0, help="reset seed of the first episode")
    parser.add_argument("--episodes", type=int, default=4, help="episodes in the video, one object shape each")
    parser.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the mean")
    parser.add_argument("--episode-length-s", type=float, default=None,
                        help="cut each episode after this many seconds (default: the policy's own episode length)")
    args = parser.parse_args()

    if not os.path.exists(args.checkpoint):
        pretrained, cfg = dexgrasp_env.load_pretrained(args.checkpoint)
        program, keys = pretrained.program, pretrained.keys
    else:
        ckpt = checkpoints.load(args.checkpoint)
        cfg = checkpoints.env_config(ckpt["env_config"])
        program = load_policy(ckpt["policy_export"])
        keys = tuple(ckpt.get("policy_keys") or ckpt["student_keys"])

    if args.episode_length_s is not None:
        cfg = dataclasses.replace(cfg, episode_length_s=args.episode_length_s)

    def act(obs: dict) -> torch.Tensor:
        mean, std = program({k: obs[k] for k in keys})
        return torch.normal(mean, std) if args.stochastic else mean

    frames, results = [], []
    for episode in range(args.episodes):  # a different shape every episode (shapes are drawn per reset)
        results.append(run_episodes(act, cfg, episodes=1, seed=args.seed + episode, frames=frames))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_mp4(args.out, frames, fps=int(round(1.0 / cfg.control_dt)))
    success = np.mean([r["success_rate"] for r in results])
    lifted = np.mean([r["lifted_rate"] for r in results])
    print(f"{args.episodes} episodes: success {success:.2f}, lifted {lifted:.2f}, {len(frames)} frames -> {args.out}")


if __name__ == "__main__":
    main()
