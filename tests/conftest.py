"""Shared fixtures: simulators are expensive to build, so tests share them where they can.

Tests of the environment itself run on both physics backends (``backend`` fixture); the rest use
the CPU default (C MuJoCo).
"""

from __future__ import annotations

import pytest
import torch

from dexgrasp_env.config import CameraConfig, RandomizationConfig, make_env_config

SMALL_CAMERA = CameraConfig(width=32, height=24)
BACKENDS = ("mujoco", "warp")


def small_config(obs_mode: str = "state", **overrides):
    """A task config with small images (every rendered sensor keeps its pose), for tests."""
    overrides.setdefault("camera", dict(width=SMALL_CAMERA.width, height=SMALL_CAMERA.height))
    return make_env_config(obs_mode, **overrides)


def gpu_available() -> bool:
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """Each physics backend in turn."""
    return request.param


@pytest.fixture(scope="session")
def state_task(backend):
    """16 state environments, joint actions, no randomization, one shape per world (shared; reset before use)."""
    from dexgrasp_env.task import GraspTask

    cfg = small_config("state", backend=backend, action_mode="joint", randomization=RandomizationConfig.none(),
                       object_assignment="cycle")
    return GraspTask(cfg, 16, "cpu", autoreset_mode="disabled")


@pytest.fixture(scope="session")
def vision_task(backend):
    """4 environments rendering depth and the stereo pair, with the state as an extra key."""
    from dexgrasp_env.task import GraspTask

    cfg = small_config("stereo_rgb", backend=backend, extra_obs=("depth", "state"),
                       randomization=RandomizationConfig.none())
    return GraspTask(cfg, 4, "cpu", autoreset_mode="next_step")
