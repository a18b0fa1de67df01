"""Observation layouts, spaces and groups: declared once, used by the task, the pool and the scripts.

The privileged ``state`` vector and the ``proprio`` vector are concatenations of named blocks
(:func:`state_layout`, :func:`proprio_layout`); ``last_action`` is the last block of both, because
its size depends on the action mode (:mod:`dexgrasp_env.actions`), so every other block sits at the
same place whatever the mode (:data:`STATE_SLICES`, :data:`PROPRIO_SLICES`).

Observation groups (as rsl_rl's ``obs_groups``) name the keys each consumer reads, so that no
script infers roles on its own: ``policy`` (what the environment's policy acts on), ``critic``
(the privileged ``state`` when it is rendered, else the policy's keys) and ``extra`` (keys
rendered in the same step for someone else: a critic, a teacher, a distillation target).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dexgrasp_env.actions import action_dim
from dexgrasp_env.config import EnvConfig
from dexgrasp_env.robot.object_sets import SURFACE_POINTS
from dexgrasp_env.sensors import DEPTH_KEYS, IMAGE_KEYS, camera_of

Layout = tuple[tuple[str, int], ...]

STATE_COMMON_BLOCKS: Layout = (
    ("joint_pos", 23), ("joint_vel", 23), ("palm_pos", 3), ("palm_quat", 4), ("fingertip_pos", 12),
    ("object_pos", 3), ("object_quat", 4), ("object_linvel", 3), ("object_angvel", 3), ("goal", 3),
    ("object_to_goal", 3),
)
"""The blocks of ``state`` before the object's description, in order (the same for every description)."""
OBJECT_BLOCKS: dict[str, Layout] = {
    "shape": (("object_kind", 4), ("object_size", 3), ("object_mass", 1), ("object_friction", 1)),
    "points": (("object_points", 3 * SURFACE_POINTS), ("object_mass", 1), ("object_friction", 1)),
}
"""The object's description by ``EnvConfig.features``: the primitive kind (one-hot) and MuJoCo size, or
:data:`~dexgrasp_env.robot.object_sets.SURFACE_POINTS` surface points ``(x, y, z)`` in the world frame at the
object's current pose (any shape); then its mass and friction."""
PROPRIO_BLOCKS: Layout = (
    ("joint_pos", 23), ("joint_vel", 23), ("palm_pos", 3), ("palm_quat", 4), ("fingertip_pos", 12), ("goal", 3),
)
"""Blocks of the ``proprio`` vector before ``last_action``, in order."""


def layout_slices(layout: Layout) -> dict[str, slice]:
    """Where each named block sits in a flat observation vector."""
    out, start = {}, 0
    for name, size in layout:
        out[name] = slice(start, start + size)
        start += size
    return out


def state_layout(cfg: EnvConfig) -> Layout:
    """All blocks of ``state`` for this config (its object description; ``last_action`` sized by the action mode)."""
    return STATE_COMMON_BLOCKS + OBJECT_BLOCKS[cfg.features] + (("last_action", action_dim(cfg)),)


def proprio_layout(cfg: EnvConfig) -> Layout:
    """All blocks of ``proprio`` for this config."""
    return PROPRIO_BLOCKS + (("last_action", action_dim(cfg)),)


STATE_SLICES = layout_slices(STATE_COMMON_BLOCKS)
"""``obs["state"][:, STATE_SLICES["object_pos"]]`` etc.: the blocks every description shares (the object's
own and ``last_action``: :func:`state_slices`)."""
PROPRIO_SLICES = layout_slices(PROPRIO_BLOCKS)
"""``obs["proprio"][:, PROPRIO_SLICES["goal"]]`` etc."""


def state_slices(cfg: EnvConfig) -> dict[str, slice]:
    """Every block of ``state`` for this config, ``last_action`` included."""
    return layout_slices(state_layout(cfg))


def key_spaces(cfg: EnvConfig) -> dict[str, gym.spaces.Box]:
    """The space of each observation key of one environment, in ``cfg.obs_keys()`` order."""
    inf = np.float32(np.inf)
    size = {name: sum(n for _, n in layout) for name, layout in (("state", state_layout(cfg)),
                                                                  ("proprio", proprio_layout(cfg)))}
    spaces = {
        "state": gym.spaces.Box(-inf, inf, (size["state"],), np.float32),
        "proprio": gym.spaces.Box(-inf, inf, (size["proprio"],), np.float32),
    }
    for key in IMAGE_KEYS:
        cam = camera_of(cfg.sensors, key)
        spaces[key] = (gym.spaces.Box(0.0, np.float32(cam.depth_range[1]), (1, cam.height, cam.width), np.float32)
                       if key in DEPTH_KEYS else gym.spaces.Box(0, 255, (3, cam.height, cam.width), np.uint8))
    return {k: spaces[k] for k in cfg.obs_keys()}


def is_flat(cfg: EnvConfig) -> bool:
    """Whether observations are one flat vector (state env without extra keys) rather than a dict."""
    return cfg.obs_keys() == ("state",)


def observation_space(cfg: EnvConfig) -> gym.Space:
    """One environment's observation space: a flat Box for the plain state env, else a Dict."""
    spaces = key_spaces(cfg)
    return spaces["state"] if is_flat(cfg) else gym.spaces.Dict(spaces)


def obs_groups(cfg: EnvConfig) -> dict[str, tuple[str, ...]]:
    """The observation keys of each consumer (see the module docstring)."""
    policy = cfg.policy_keys()
    extra = tuple(k for k in cfg.obs_keys() if k not in policy)
    return {"policy": policy, "critic": ("state",) if "state" in cfg.obs_keys() else policy, "extra": extra}


def as_dict(obs) -> dict:
    """A flat state observation as ``{"state": obs}``; dict observations as they are."""
    return obs if isinstance(obs, dict) else {"state": obs}
