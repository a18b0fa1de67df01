"""One grasp-and-lift environment as a ``gymnasium.Env`` with numpy observations.

``gymnasium.make("DexGrasp-Depth-v0")`` returns this class. For many environments use
``gymnasium.make_vec`` (:class:`dexgrasp_env.vector.DisaggregatedVectorEnv`), which keeps
everything batched on the device.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from dexgrasp_env.config import EnvConfig, make_env_config
from dexgrasp_env.actions import action_space, check_actions
from dexgrasp_env.randomization import Curriculum
from dexgrasp_env.spaces import is_flat, observation_space
from dexgrasp_env.task import GraspTask


def to_numpy(tree):
    """Tensors (or dicts of them) to numpy arrays on the host (a view, for a CPU tensor)."""
    if isinstance(tree, dict):
        return {k: to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, torch.Tensor):
        return tree.numpy() if tree.device.type == "cpu" and not tree.requires_grad else tree.detach().cpu().numpy()
    return tree


class DexGraspEnv(gym.Env):
    """Grasp an object from the table and lift it to a goal with a Kuka iiwa 14 and an Allegro hand.

    Args:
        obs_mode: ``"state"``, ``"depth"``, ``"stereo_rgb"`` or ``"wrist_depth"`` (set by the registered id).
        config: A full :class:`~dexgrasp_env.config.EnvConfig`; overrides ``obs_mode`` and ``**overrides``.
        render_mode: ``None`` or ``"rgb_array"`` (a person's view of the scene with the goal marker).
        device: Simulation device, ``"cpu"`` (default) or ``"cuda:<k>"``.
        render_width, render_height: Size of the ``rgb_array`` frames.
        **overrides: Fields of :class:`~dexgrasp_env.config.EnvConfig` (e.g. ``extra_obs=("state",)``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(
        self,
        obs_mode: str = "state",
        config: EnvConfig | None = None,
        render_mode: str | None = None,
        device: str = "cpu",
        render_width: int = 320,
        render_height: int = 240,
        **overrides: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is not supported; expected None or 'rgb_array'")
        self.cfg = config if config is not None else make_env_config(obs_mode, **overrides)
        self.render_mode = render_mode
        self.render_size = (render_width, render_height)
        self.metadata = dict(self.metadata, render_fps=int(round(1.0 / self.cfg.control_dt)))
        self.observation_space = observation_space(self.cfg)
        self.action_space = action_space(self.cfg)
        self._task = GraspTask(self.cfg, 1, device, autoreset_mode="disabled")
        self._curriculum = Curriculum(self.cfg.randomization.curriculum)
        self._task.difficulty = self._curriculum.difficulty
        self._flat = is_flat(self.cfg)
        self._seeded = False

    @property
    def task(self) -> GraspTask:
        """The batched task underneath (one world). This env drives it in ``torch.inference_mode()``: call
        its methods inside that mode too."""
        return self._task

    def _obs(self, obs: dict[str, torch.Tensor]):
        out = {k: v[0] for k, v in to_numpy(obs).items()}
        return out["state"] if self._flat else out

    # inference mode around every call into the task (reset, step, render): the observations leave as
    # numpy arrays, so no autograd state is ever needed, and at one environment, where torch's per-op
    # dispatch is most of the step, skipping autograd's bookkeeping makes the step about 15% faster
    # than no_grad. All of them, because a tensor the task allocates in inference mode (a lazily built
    # render mirror, new targets) may only be updated in place in inference mode.
    @torch.inference_mode()
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None and not self._seeded:
            seed = int(self.np_random.integers(2**31))
        self._seeded = True
        obs = self._task.reset(seed=seed)
        return self._obs(obs), {}

    @torch.inference_mode()
    def step(self, action):
        if self.cfg.check_actions:
            check_actions(action, None, self._task.action_dim)
        act = torch.as_tensor(action, dtype=torch.float32, device=self._task.device).reshape(1, -1)
        obs, reward, terminated, truncated, info = self._task.step(act)
        # one-element tensors: .item() is one call each (no indexing)
        flat = {key: value.item() for key, value in info.items() if key != "episode_stats" and key[0] != "_"}
        ended = bool(info["_episode_stats"].item())
        if ended:
            flat["episode_stats"] = {k: v.item() for k, v in info["episode_stats"].items()}
        if self._curriculum.cfg.enabled:
            # the curriculum widens the ranges here as in the vector env (from the next reset on)
            success = int(flat["episode_stats"]["success"]) if ended else 0
            self._task.difficulty = self._curriculum.update(int(ended), success, steps=1)
            if ended:
                flat["curriculum_difficulty"] = self._task.difficulty
        return self._obs(obs), reward.item(), terminated.item(), truncated.item(), flat

    @torch.inference_mode()
    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._task.sim.render_viewer(*self.render_size)[0].cpu().numpy()

    def close(self):
        """Release the simulator; the environment cannot be stepped afterwards."""
        if self._task is not None:
            self._task.close()
        self._task = None
