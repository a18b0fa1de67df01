"""Batched simulation of the task scene behind one interface, on two physics backends.

``make_simulator(cfg, n, device)`` returns a :class:`Simulator`: C MuJoCo on CPU threads
(``backend="mujoco"``, the default on CPU) or MuJoCo Warp (``backend="warp"``, the default on CUDA).
See :mod:`dexgrasp_env.sim.base` for what the task layer may read and write.
"""

from __future__ import annotations

import torch

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.devices import resolve_device
from dexgrasp_env.sim.base import (
    BACKENDS, BATCHED_FIELDS, POLICY_CAMERAS, VIEWER_CAMERA, Simulator, available_cores, resolve_backend,
)


def make_simulator(cfg: EnvConfig, num_worlds: int, device: str | torch.device = "cpu", *,
                   cameras: tuple[str, ...] = ()) -> Simulator:
    """``num_worlds`` worlds of ``cfg``'s scene on ``device``, on the backend ``cfg.backend`` names.

    Raises:
        ValueError: An unknown or unavailable device, an unknown backend, or C MuJoCo on CUDA.
    """
    dev = resolve_device(device)
    if resolve_backend(cfg.backend, dev) == "warp":
        from dexgrasp_env.sim.warp_backend import WarpSim

        return WarpSim(cfg, num_worlds, dev, cameras=cameras)
    from dexgrasp_env.sim.c_backend import MujocoSim

    return MujocoSim(cfg, num_worlds, dev, cameras=cameras)


__all__ = ["BACKENDS", "BATCHED_FIELDS", "POLICY_CAMERAS", "VIEWER_CAMERA", "Simulator", "available_cores",
           "make_simulator", "resolve_backend"]
