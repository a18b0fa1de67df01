"""Train and evaluate Stable-Baselines3 PPO on DexGrasp-State-v0 through the pool adapter.

    pip install 'dexgrasp[sb3]'
    python examples/sb3_ppo.py --timesteps 200000 --num-envs 32 --out outputs/sb3
    python examples/sb3_ppo.py --sim-devices cpu cpu   # two simulator workers

Saves the model (``model.zip``) and an evaluation summary (``eval.json``) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from stable_baselines3 import PPO

from dexgrasp_env.wrappers.sb3 import make_sb3_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=200_000, help="training environment steps")
    parser.add_argument("--num-envs", type=int, default=32, help="environments in the pool")
    parser.add_argument("--sim-devices", nargs="*", default=None, help="one device per simulator worker")
    parser.add_argument("--episode-length-s", type=float, default=2.0, help="episode length (s)")
    parser.add_argument("--eval-episodes", type=int, default=8, help="deterministic evaluation episodes")
    parser.add_argument("--out", default="outputs/sb3", help="folder for model.zip and eval.json")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    env = make_sb3_env("DexGrasp-State-v0", args.num_envs, sim_devices=args.sim_devices,
                       episode_length_s=args.episode_length_s)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=256, seed=args.seed, device="cpu", verbose=0)
    model.learn(args.timesteps, progress_bar=False)
    model.save(os.path.join(args.out, "model.zip"))
    env.close()

    env = make_sb3_env("DexGrasp-State-v0", args.eval_episodes, episode_length_s=args.episode_length_s)
    env.seed(args.seed + 1)
    obs = env.reset()
    returns, successes, finished = np.zeros(args.eval_episodes), np.zeros(args.eval_episodes), np.zeros(
        args.eval_episodes, dtype=bool)
    while not finished.all():
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, done, infos = env.step(action)
        for i in np.flatnonzero(done & ~finished):
            returns[i], successes[i] = infos[i]["episode"]["r"], infos[i]["is_success"]
        finished |= done
    env.close()
    summary = {"timesteps": args.timesteps, "mean_return": float(returns.mean()), "success_rate": float(successes.mean())}
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(summary)


if __name__ == "__main__":
    main()
