"""Make each environment, step it, and save what it sees as PNG.

    python examples/quickstart.py --out outputs/quickstart --steps 30

Writes ``depth.png`` (the depth camera, near = bright), ``stereo.png`` (left | right eye),
``wrist_depth.png`` (the depth camera on the wrist), ``person_view.png`` (the scene with the goal marker)
and ``sensors.png`` (the person's view beside the wrist camera's, as the README shows it), and prints each
id's spaces and rewards. The ``--width``/``--height`` size the static cameras; the wrist camera keeps its
32x32 (``dexgrasp_env.sensors.WRIST_CAMERA``).
"""

from __future__ import annotations

import argparse
import os

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np

import dexgrasp_env  # noqa: F401  (registers the ids)
from dexgrasp_env.sensors import camera_of


def depth_to_image(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """(1, H, W) metres to an (H, W) uint8 image, near bright, far dark, invalid black."""
    d = depth[0]
    img = np.where(d > 0, 1.0 - (d - near) / (far - near), 0.0)
    return (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/quickstart", help="folder for the PNG files")
    parser.add_argument("--steps", type=int, default=30, help="random-action steps per environment")
    parser.add_argument("--width", type=int, default=160, help="camera width (pixels)")
    parser.add_argument("--height", type=int, default=120, help="camera height (pixels)")
    parser.add_argument("--seed", type=int, default=0, help="reset seed")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    static = dict(depth=dict(width=args.width, height=args.height), stereo=dict(width=args.width, height=args.height))

    for env_id in ("DexGrasp-State-v0", "DexGrasp-Depth-v0", "DexGrasp-StereoRGB-v0", "DexGrasp-WristDepth-v0"):
        env = gym.make(env_id, sensors=static, render_mode="rgb_array")
        obs, info = env.reset(seed=args.seed)
        env.action_space.seed(args.seed)
        total = 0.0
        for _ in range(args.steps):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            total += reward
        print(f"{env_id}: observation {env.observation_space}, return over {args.steps} steps {total:.2f}")
        for key in ("depth", "wrist_depth"):
            if key in obs:
                near, far = camera_of(env.unwrapped.cfg.sensors, key).depth_range
                imageio.imwrite(os.path.join(args.out, f"{key}.png"), depth_to_image(obs[key], near, far))
        if env_id == "DexGrasp-StereoRGB-v0":
            pair = np.concatenate([obs["left"].transpose(1, 2, 0), obs["right"].transpose(1, 2, 0)], axis=1)
            imageio.imwrite(os.path.join(args.out, "stereo.png"), pair)
            imageio.imwrite(os.path.join(args.out, "person_view.png"), env.render())
        if env_id == "DexGrasp-WristDepth-v0":  # the person's view beside the wrist camera's, scaled up
            person = env.render()
            near, far = camera_of(env.unwrapped.cfg.sensors, "wrist_depth").depth_range
            wrist = depth_to_image(obs["wrist_depth"], near, far)
            scale = person.shape[0] // wrist.shape[0]
            panel = np.repeat(np.kron(wrist, np.ones((scale, scale), dtype=np.uint8))[..., None], 3, axis=2)
            panel = np.pad(panel, ((0, person.shape[0] - panel.shape[0]), (0, 0), (0, 0)))
            imageio.imwrite(os.path.join(args.out, "sensors.png"), np.concatenate([person, panel], axis=1))
        env.close()
    print(f"images in {args.out}")


if __name__ == "__main__":
    main()
