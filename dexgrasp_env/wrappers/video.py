"""Episode videos: a person's view beside what the policy sees, written as MP4."""

from __future__ import annotations

import os

import imageio.v2 as imageio
import numpy as np

from dexgrasp_env.sensors import DEPTH_KEYS, IMAGE_KEYS, SensorsConfig, camera_of


def _to_panel(image: np.ndarray, key: str, far: float, height: int) -> np.ndarray:
    """A (C, H, W) observation image as an (h, w, 3) uint8 panel scaled up to about ``height``."""
    if key in DEPTH_KEYS:
        grey = (np.clip(1.0 - image / far, 0.0, 1.0) * 255).astype(np.uint8)  # near bright, far dark
        image = np.repeat(grey, 3, axis=0)
    image = np.asarray(image, dtype=np.uint8).transpose(1, 2, 0)
    scale = max(1, height // image.shape[0])
    return np.kron(image, np.ones((scale, scale, 1), dtype=np.uint8))


def compose_frame(person: np.ndarray, obs: dict, sensors: SensorsConfig | None = None) -> np.ndarray:
    """One video frame: the person's view, with the policy's images stacked on its right.

    Args:
        person: ``(H, W, 3)`` uint8 frame of the person's view.
        obs: One environment's observation (numpy arrays or CPU tensors) keyed like the env's:
            depth keys ``(1, h, w)`` in metres, colour keys ``(3, h, w)`` uint8; other keys are ignored.
        sensors: The sensors' configuration (each depth image's far end, drawn black; default: the defaults).
    """
    height = person.shape[0]
    sensors = sensors or SensorsConfig()
    images = [k for k in IMAGE_KEYS if k in obs]
    if not images:
        return person
    rows = height // len(images)
    panels = [_to_panel(np.asarray(obs[k].cpu() if hasattr(obs[k], "cpu") else obs[k]), k,
                        camera_of(sensors, k).depth_range[1], rows) for k in images]
    width = max(p.shape[1] for p in panels)
    column = np.zeros((height, width, 3), dtype=np.uint8)
    y = 0
    for p in panels:
        h = min(p.shape[0], height - y)
        column[y : y + h, : p.shape[1]] = p[:h]
        y += rows
    return np.concatenate([person, column], axis=1)


def write_mp4(path: str, frames: list[np.ndarray], fps: int) -> str:
    """Write ``frames`` (H, W, 3 uint8) as an MP4 and return the path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
    return path
