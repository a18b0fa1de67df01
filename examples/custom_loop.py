"""Your own loop on the disaggregated pool: torch tensors in, torch tensors out, no numpy.

    python examples/custom_loop.py --sim-devices cpu cpu --num-envs 8 --steps 200

Keep the pool under a main guard: simulator workers start by importing this file.
"""

import argparse
import json

import gymnasium as gym
import torch

import dexgrasp_env  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim-devices", nargs="*", default=None, help="one device per simulator worker")
    parser.add_argument("--learner-device", default="cpu", help="where observations land and actions come from")
    parser.add_argument("--num-envs", type=int, default=8, help="environments")
    parser.add_argument("--steps", type=int, default=200, help="steps to run")
    parser.add_argument("--out", default="outputs/custom_loop.json", help="episode statistics (JSON)")
    args = parser.parse_args()

    envs = gym.make_vec("DexGrasp-State-v0", num_envs=args.num_envs, sim_devices=args.sim_devices,
                        learner_device=args.learner_device, episode_length_s=1.0)
    torch.manual_seed(0)
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    policy = torch.nn.Sequential(torch.nn.Linear(obs_dim, 64), torch.nn.Tanh(), torch.nn.Linear(64, act_dim))
    policy = policy.to(args.learner_device)
    obs, _ = envs.reset(seed=0)  # (num_envs, obs_dim) on the learner device
    episodes = []
    for _ in range(args.steps):
        with torch.no_grad():
            actions = torch.tanh(policy(obs))  # never leaves the device
        obs, reward, terminated, truncated, info = envs.step(actions)
        ended = info["_episode_stats"]  # a mask: no Python per environment
        if ended.any():
            stats = {k: v[ended].tolist() for k, v in info["episode_stats"].items()}
            episodes += [dict(zip(("return", "length", "success", "lifted"), row))
                         for row in zip(stats["r"], stats["l"], stats["success"], stats["lifted"])]
    envs.close()
    with open(args.out, "w") as f:
        json.dump(episodes, f)
    mean = sum(e["return"] for e in episodes) / max(1, len(episodes))
    print(f"{len(episodes)} episodes, mean return {mean:.2f}")


if __name__ == "__main__":
    main()
