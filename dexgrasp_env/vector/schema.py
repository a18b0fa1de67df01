"""The results of a shard's step, declared once: what the task produces, the wire carries, the pool returns.

A step's results are one flat dict of ``(num_envs, ...)`` tensors keyed by path (nested keys
joined by ``.``): ``obs.<key>``, ``reward``, ``terminated``, ``truncated``, ``info.success``,
``info.episode_stats.r``, ``info.reward/lift``, ... (:func:`step_fields`). A reset produces the
``obs.*`` fields only (:func:`reset_fields`). Both sides of the wire derive the same
:class:`Layout` from the config, so nothing about shapes travels at run time, and packing is
strict: a missing field, an extra one, a wrong shape or dtype is an error, on the in-process
path as well as through workers, so that the schema cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexgrasp_env.config import REWARD_TERMS, EnvConfig
from dexgrasp_env.spaces import key_spaces

Field = tuple[str, tuple[int, ...], torch.dtype]
"""``(path, per-environment shape, dtype)``."""

HEADER_BYTES = 64
"""Every reply buffer starts with 8 int64 header words (:mod:`dexgrasp_env.vector.protocol`)."""
MIN_BUFFER_BYTES = 1 << 16
"""Room for a worker's traceback when a step fails."""
_ALIGN = 8


def obs_fields(cfg: EnvConfig, prefix: str = "obs.") -> tuple[Field, ...]:
    """The observation keys of ``cfg`` as fields."""
    to_torch = {np.dtype(np.float32): torch.float32, np.dtype(np.uint8): torch.uint8}
    return tuple((f"{prefix}{k}", tuple(s.shape), to_torch[np.dtype(s.dtype)]) for k, s in key_spaces(cfg).items())


def step_fields(cfg: EnvConfig, autoreset_mode: str) -> tuple[Field, ...]:
    """Every field of one step's results (what :meth:`dexgrasp_env.task.GraspTask.step` returns, flattened)."""
    fields = obs_fields(cfg) + (
        ("reward", (), torch.float32),
        ("terminated", (), torch.bool),
        ("truncated", (), torch.bool),
        ("info.success", (), torch.bool),
        ("info.lifted", (), torch.bool),
        ("info.diverged", (), torch.bool),
        ("info.episode_stats.r", (), torch.float32),
        ("info.episode_stats.l", (), torch.int64),
        ("info.episode_stats.success", (), torch.bool),
        ("info.episode_stats.lifted", (), torch.bool),
        ("info._episode_stats", (), torch.bool),
    ) + tuple((f"info.reward/{t}", (), torch.float32) for t in REWARD_TERMS)
    if autoreset_mode == "same_step":
        fields += obs_fields(cfg, "info.final_obs.") + (("info._final_obs", (), torch.bool),)
    return fields


def reset_fields(cfg: EnvConfig) -> tuple[Field, ...]:
    """The fields of a reset's results: the observation."""
    return obs_fields(cfg)


def flatten(tree: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested dicts to one level with ``.``-joined keys."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def unflatten(flat: dict) -> dict:
    """Inverse of :func:`flatten`."""
    out: dict = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def step_results(obs: dict, reward, terminated, truncated, info: dict) -> dict[str, torch.Tensor]:
    """A task step's outputs as the flat dict of :func:`step_fields`."""
    return flatten({"obs": obs, "reward": reward, "terminated": terminated, "truncated": truncated, "info": info})


def reset_results(obs: dict) -> dict[str, torch.Tensor]:
    """A task reset's observation as the flat dict of :func:`reset_fields`."""
    return flatten({"obs": obs})


def check_keys(results: dict, fields: tuple[Field, ...]) -> None:
    """Raise ``ValueError`` unless ``results`` has exactly the paths of ``fields``."""
    want = {path for path, _, _ in fields}
    have = set(results)
    if have != want:
        raise ValueError(f"step results do not match the schema: missing {sorted(want - have)}, "
                         f"unexpected {sorted(have - want)}")


@dataclass
class Layout:
    """Byte offsets of every field of a buffer holding ``num_envs`` environments' step results."""

    fields: tuple[Field, ...]
    num_envs: int

    def __post_init__(self) -> None:
        self.offsets: dict[str, tuple[int, int, tuple[int, ...], torch.dtype]] = {}
        pos = HEADER_BYTES
        for path, shape, dtype in self.fields:
            count = self.num_envs * int(np.prod(shape, dtype=np.int64))
            nbytes = count * torch.empty((), dtype=dtype).element_size()
            self.offsets[path] = (pos, nbytes, shape, dtype)
            pos += -(-nbytes // _ALIGN) * _ALIGN
        self.nbytes = max(pos, MIN_BUFFER_BYTES)

    def empty(self, device: torch.device | str = "cpu", pin: bool = False) -> torch.Tensor:
        """A zeroed buffer of this layout."""
        return torch.zeros(self.nbytes, dtype=torch.uint8, device=device, pin_memory=pin)

    def views(self, buf: torch.Tensor, paths=None) -> dict[str, torch.Tensor]:
        """Typed views ``(num_envs, *shape)`` into ``buf`` by path (writing a view writes ``buf``)."""
        out = {}
        for path, (pos, nbytes, shape, dtype) in self.offsets.items():
            if paths is None or path in paths:
                out[path] = buf[pos : pos + nbytes].view(dtype).view(self.num_envs, *shape)
        return out

    def pack(self, buf: torch.Tensor, results: dict[str, torch.Tensor],
             fields: tuple[Field, ...] | None = None) -> None:
        """Copy ``results`` into ``buf``: exactly the paths of ``fields`` (all of this layout's by default).

        Raises:
            ValueError: A field is missing or extra, or has the wrong shape or dtype.
        """
        fields = self.fields if fields is None else fields
        check_keys(results, fields)
        views = self.views(buf, {path for path, _, _ in fields})
        for path, view in views.items():
            value = results[path]
            if value.shape != view.shape or value.dtype != view.dtype:
                raise ValueError(f"step result {path!r} has shape {tuple(value.shape)} and dtype {value.dtype}; "
                                 f"the schema says {tuple(view.shape)} and {view.dtype}")
            view.copy_(value)
