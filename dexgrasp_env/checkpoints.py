"""Checkpoints that hold plain data only, so that loading one runs no code.

A checkpoint shared between labs is a file from the internet: it is read with
``torch.load(..., weights_only=True)``, which refuses any pickled object but tensors and builtins.
Configs are therefore stored as dicts of builtins (:func:`to_plain`) and rebuilt into their frozen
dataclasses (:func:`from_plain`); random-number states as tensors and builtins.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
import types
import typing
from typing import Any

import numpy as np
import torch

FORMAT = "dexgrasp-checkpoint/1"


def to_plain(value: Any) -> Any:
    """Dataclasses (nested) to dicts, tuples to lists: builtins only."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def _rebuild(tp, value):
    """``value`` (plain data) as type ``tp``: dataclasses recursively, lists to tuples where typed so."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        for option in options:  # the first option the value fits
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                return from_plain(option, value)
            if typing.get_origin(option) is tuple and isinstance(value, (list, tuple)):
                return _rebuild(option, value)
        return value
    if dataclasses.is_dataclass(tp):
        return from_plain(tp, value)
    if origin is tuple:
        args = typing.get_args(tp)
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if inner is None and args:
            return tuple(_rebuild(a, v) for a, v in zip(args, value))
        return tuple(_rebuild(inner, v) if inner is not None else v for v in value)
    if origin is typing.Annotated:
        return _rebuild(typing.get_args(tp)[0], value)
    return value


def from_plain(cls, data: dict):
    """The dataclass ``cls`` rebuilt from :func:`to_plain`'s output (unknown keys are an error)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
    return cls(**{k: _rebuild(hints[k], v) for k, v in data.items()})


def env_config(data: dict):
    """An :class:`~dexgrasp_env.config.EnvConfig` from its plain data (a checkpoint's or a shipped policy's).

    Reads the layout of every version: before 2026-12-07 one ``camera`` rig served both the depth camera
    and the stereo pair; it becomes both sensors' configuration (``sensors.depth`` and ``sensors.stereo``).
    """
    from dexgrasp_env.config import EnvConfig
    from dexgrasp_env.sensors import STATIC_SENSORS

    data = dict(data)
    if "camera" in data:
        rig = data.pop("camera")
        data["sensors"] = {**data.get("sensors", {}), **{name: rig for name in STATIC_SENSORS}}
    return from_plain(EnvConfig, data)


def rng_state() -> dict:
    """Every random-number state of this process (torch CPU and CUDA, numpy, Python) as plain data."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": to_plain(np.random.get_state(legacy=True))}
    state["numpy"][1] = torch.from_numpy(np.asarray(state["numpy"][1], dtype=np.int64))
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str, payload: dict) -> None:
    """Write ``payload`` (tensors and builtins only) atomically: a crash mid-write leaves the old file."""
    tmp = f"{path}.tmp"
    torch.save({"format": FORMAT, **to_plain(payload)}, tmp)
    os.replace(tmp, path)


def load(path: str, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint without running code from it.

    Raises:
        ValueError: The file holds anything but tensors and builtins (a pickled object of some
            class), or is not a checkpoint of this format.
    """
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path} holds more than tensors and plain data, so it is not loaded (loading it could "
                         f"run code from the file). Checkpoints of this version store configs as dicts. "
                         f"({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dexgrasp checkpoint (format {FORMAT!r})")
    return data
