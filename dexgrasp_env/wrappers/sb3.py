"""The simulator pool as a Stable-Baselines3 ``VecEnv`` (``pip install .[sb3]``).

SB3 expects numpy arrays on the host, same-step autoreset with the true last observation of a
finished episode under ``infos[i]["terminal_observation"]``, ``TimeLimit.truncated`` for time-outs
and Monitor-style ``infos[i]["episode"]``. :func:`make_sb3_env` builds a
:class:`~dexgrasp_env.vector.DisaggregatedVectorEnv` that way and wraps it.

Depth images are float metres in the environment; SB3's image extractors take uint8 images, so
by default the adapter maps depth to uint8: ``MultiInputPolicy`` then gives the depth and the
stereo images a NatureCNN each (they must be at least 36 x 36) and the vectors an MLP. The default
encoding, ``"normalized"``, is the one this package's own encoders read (see
:data:`dexgrasp_env.models.DEPTH_STD_FLOOR` for why): each pixel minus its running mean, over its
running standard deviation plus 2 cm, clipped to +-5 and stored as ``128 + 25.5 z`` (about 1 mm per
level where the scene is still). The statistics follow the observations while ``training`` is true
(set it false to freeze them for evaluation, like SB3's ``VecNormalize``). ``"metric"`` maps the
depth range linearly (``near`` -> 0, ``far`` -> 255, about 5 mm per level): there an object 5 cm
across differs from the table by a few levels, which SB3's CNN hardly sees.

Per step the adapter does no Python work per environment except for the environments that
finished: only they get a filled info dict. The list of info dicts is reused between steps, so
copy an entry if you keep it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

try:
    from stable_baselines3.common.vec_env import VecEnv
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("dexgrasp_env.wrappers.sb3 needs stable-baselines3: pip install 'dexgrasp[sb3]'") from exc

from dexgrasp_env.models import DEPTH_STD_FLOOR, RunningMeanStd
from dexgrasp_env.sensors import DEPTH_KEYS, camera_of
from dexgrasp_env.vector.pool import DisaggregatedVectorEnv, make_vector_env

DEPTH_ENCODINGS = ("normalized", "metric")


def _check_encoding(depth_encoding: str) -> None:
    if depth_encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth_encoding={depth_encoding!r} is unknown; expected one of {DEPTH_ENCODINGS}")


class SB3VecEnv(VecEnv):
    """A :class:`DisaggregatedVectorEnv` seen through SB3's ``VecEnv`` interface.

    Args:
        venv: A pool made with ``autoreset_mode="same_step"`` and ``numpy_obs=True``.
        depth_as_uint8: Map float depth to uint8 images for SB3's CNN extractors.
        depth_encoding: ``"normalized"`` (per-pixel running normalisation) or ``"metric"`` (the depth
            range mapped linearly): see the module docstring.
    """

    def __init__(self, venv: DisaggregatedVectorEnv, depth_as_uint8: bool = True,
                 depth_encoding: str = "normalized") -> None:
        _check_encoding(depth_encoding)
        pool = venv.pool_cfg
        if pool.autoreset_mode != "same_step" or not pool.numpy_obs:
            raise ValueError("SB3VecEnv needs a pool made with autoreset_mode='same_step' and numpy_obs=True "
                             f"(got {pool.autoreset_mode!r}, numpy_obs={pool.numpy_obs}); use make_sb3_env()")
        self.venv = venv
        space = venv.single_observation_space
        self._depth = tuple(k for k in DEPTH_KEYS if depth_as_uint8 and isinstance(space, gym.spaces.Dict)
                            and k in space.spaces)
        """The depth keys stored as uint8 images."""
        self.depth_ranges = {k: camera_of(venv.cfg.sensors, k).depth_range for k in self._depth}
        self.depth_encoding, self.training = depth_encoding, True
        self.depth_norms = {k: RunningMeanStd(space.spaces[k].shape, std_floor=DEPTH_STD_FLOOR) for k in self._depth}
        if self._depth:
            spaces = dict(space.spaces)
            for k in self._depth:
                spaces[k] = gym.spaces.Box(0, 255, spaces[k].shape, np.uint8)
            space = gym.spaces.Dict(spaces)
        self.render_mode = venv.render_mode
        self._infos: list[dict] = [{} for _ in range(venv.num_envs)]
        self._dirty = np.zeros(venv.num_envs, dtype=bool)
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, space, venv.single_action_space)

    # -- observations --------------------------------------------------------------------------
    def _obs(self, obs, update: bool = True):
        return {**obs, **{k: self._depth_uint8(k, obs[k], update) for k in self._depth}} if self._depth else obs

    def _depth_uint8(self, key: str, depth: np.ndarray, update: bool) -> np.ndarray:
        if self.depth_encoding == "metric":
            near, far = self.depth_ranges[key]
            scaled = np.clip((depth - near) / (far - near), 0.0, 1.0) * 255.0
            return np.round(scaled).astype(np.uint8)
        x = torch.from_numpy(np.ascontiguousarray(depth))
        if self.training and update:
            self.depth_norms[key].update(x)
        z = self.depth_norms[key].normalize(x).numpy()  # in [-5, 5]
        return np.clip(np.round(128.0 + 25.5 * z), 0, 255).astype(np.uint8)

    # -- VecEnv API ----------------------------------------------------------------------------
    def reset(self):
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return self._obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float32)

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        obs = self._obs(obs)  # first: the statistics move once per step, and the final obs uses the same
        done = terminated | truncated
        infos = self._infos
        for i in np.flatnonzero(self._dirty):  # clear what the last step wrote
            infos[i].clear()
        self._dirty[:] = done
        finished = np.flatnonzero(done)
        if finished.size:
            final_obs = self._obs(info["final_obs"], update=False)
            stats = info["episode_stats"]
            for i in finished:
                entry = infos[i]
                entry["terminal_observation"] = (
                    {k: v[i] for k, v in final_obs.items()} if isinstance(final_obs, dict) else final_obs[i])
                entry["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                entry["episode"] = {"r": float(stats["r"][i]), "l": int(stats["l"][i])}
                entry["is_success"] = bool(stats["success"][i])
        return obs, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        """An attribute of the pool (the same for every environment), once per index."""
        if attr_name == "render_mode":
            value = self.venv.render_mode
        else:
            value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        """Set an attribute of the pool; it applies to every environment (e.g. ``difficulty``)."""
        if indices is not None and len(list(self._get_indices(indices))) != self.num_envs:
            raise ValueError(f"set_attr({attr_name!r}) applies to the whole pool; got indices={indices!r}")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        """Call a method of the pool once; its result is repeated for every index."""
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self):
        frames = self.venv.render()
        return list(frames) if frames is not None else [None] * self.num_envs


def make_sb3_env(env_id: str, num_envs: int, *, depth_as_uint8: bool = True, depth_encoding: str = "normalized",
                 **kwargs) -> SB3VecEnv:
    """Make the pool for SB3 (same-step autoreset, numpy observations) and wrap it.

    Args:
        env_id: A registered id, e.g. ``"DexGrasp-Depth-v0"``.
        num_envs: Number of environments.
        depth_as_uint8, depth_encoding: See :class:`SB3VecEnv`.
        **kwargs: Pool and task settings as for ``gymnasium.make_vec`` (``sim_devices``, ``camera``...).
    """
    from dexgrasp_env.config import ENV_IDS

    _check_encoding(depth_encoding)  # before the pool starts
    kwargs.update(autoreset_mode="same_step", numpy_obs=True)
    venv = make_vector_env(num_envs, ENV_IDS[env_id], **kwargs)
    return SB3VecEnv(venv, depth_as_uint8=depth_as_uint8, depth_encoding=depth_encoding)
