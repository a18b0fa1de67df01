"""Load a checkpoint of algos/ppo.py, run its policy, and write an MP4 of the episode.

    python examples/view_policy.py runs/<run>/checkpoint.pt --out outputs/policy.mp4

The checkpoint carries the exported policy (``torch.export``) and the task config it was trained
on, so this needs neither the training script nor its classes. The frames show the person's view
beside what the policy sees.
"""

from __future__ import annotations

import argparse
import io

import gymnasium as gym
import torch

import dexgrasp_env  # noqa: F401
from dexgrasp_env.config import ENV_IDS
from dexgrasp_env.wrappers.video import compose_frame, write_mp4


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
    env_id = {mode: env_id for env_id, mode in ENV_IDS.items()}[cfg.obs_mode]
    env = gym.make_vec(env_id, num_envs=1, config=cfg, autoreset_mode="disabled", render_mode="rgb_array",
                       render_width=320, render_height=240)
    obs, _ = env.reset(seed=args.seed)
    frames, total, done = [], 0.0, False
    while not done:
        obs = obs if isinstance(obs, dict) else {"state": obs}
        frames.append(compose_frame(env.render()[0], {k: v[0] for k, v in obs.items()}, cfg.camera.depth_range[1]))
        with torch.no_grad():
            mean, std = policy({k: obs[k] for k in ckpt["policy_keys"]})
        action = torch.normal(mean, std) if args.stochastic else mean
        obs, reward, terminated, truncated, info = env.step(action.clamp(-1.0, 1.0))
        total += float(reward[0])
        done = bool((terminated | truncated)[0])
    env.close()
    write_mp4(args.out, frames, fps=int(round(1.0 / cfg.control_dt)))
    print(f"return {total:.2f}, success {bool(info['episode_stats']['success'][0])}, {len(frames)} frames -> {args.out}")


if __name__ == "__main__":
    main()
