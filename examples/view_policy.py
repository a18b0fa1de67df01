"""Load a checkpoint of algos/ppo.py, run its policy, and write an MP4 of the episode.

    python examples/view_policy.py runs/<run>/checkpoint.pt --out outputs/policy.mp4

The checkpoint carries the exported policy (``torch.export``) and the task config it was trained
on, so this needs neither the training script nor its classes. The frames show the person's view
beside what the policy sees.
"""

from __future__ import annotations

import argparse
import io

import torch

from dexgrasp_env.evaluation import run_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a checkpoint.pt written by algos/ppo.py")
    parser.add_argument("--out", default="outputs/policy.mp4", help="the MP4 to write")
    parser.add_argument("--seed", type=int, default=0, help="reset seed")
    parser.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the mean")
    args = parser.parse_args()

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    cfg = ckpt["env_config"]
    policy = torch.export.load(io.BytesIO(ckpt["policy_export"])).module()
    keys = ckpt["policy_keys"]

    def act(obs: dict) -> torch.Tensor:
        mean, std = policy({k: obs[k] for k in keys})
        return torch.normal(mean, std) if args.stochastic else mean

    result = run_episodes(act, cfg, episodes=1, seed=args.seed, video=args.out)
    print(f"return {result['mean_return']:.2f}, success {bool(result['success_rate'])}, "
          f"{result['frames']} frames -> {result['video']}")


if __name__ == "__main__":
    main()
