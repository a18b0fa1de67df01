"""Bad input gets a clear ValueError that names the problem."""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

import dexgrasp_env  # noqa: F401
from dexgrasp_env.devices import resolve_device
from dexgrasp_env.actions import check_actions


@pytest.mark.parametrize(
    "actions, match",
    [
        (torch.zeros(4, 22), r"shape \(4, 22\); expected \(4, 23\)"),
        (torch.zeros(23), r"shape \(23,\); expected \(4, 23\)"),
        (torch.zeros(4, 23, dtype=torch.int64), "dtype torch.int64"),
        (torch.full((4, 23), float("nan")), "NaN or inf"),
        (torch.full((4, 23), float("inf")), "NaN or inf"),
        (np.zeros((4, 23), dtype=np.int32), "dtype int32"),
        ([[0.0] * 23] * 4, "list"),
        (torch.zeros(4, 23, device="meta"), "device meta"),
    ],
)
def test_bad_actions_raise_value_error(actions, match):
    with pytest.raises(ValueError, match=match):
        check_actions(actions, 4, 23, torch.device("cpu"))


def test_single_env_rejects_bad_actions():
    env = gym.make("DexGrasp-State-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(23,\); expected \(11,\)"):
        env.step(np.zeros(23, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(11, np.nan, dtype=np.float32))
    obs, *_ = env.step(np.zeros(11, dtype=np.float32))  # still usable: nothing was corrupted
    assert np.isfinite(obs).all()


@pytest.mark.parametrize("device", ["tpu:0", "gpu", "cuda:7", "cuda", "banana"])
def test_unknown_or_unavailable_device(device):
    if device.startswith("cuda") and torch.cuda.is_available() and device != "cuda:7":
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match=re.escape(repr(device))):
        resolve_device(device)


def test_env_with_unknown_device_fails_clearly():
    with pytest.raises(ValueError, match="'tpu'"):
        gym.make("DexGrasp-State-v0", device="tpu")


def test_bad_backend_values():
    """An unknown backend, C MuJoCo on CUDA, or a thread count below 1: a ValueError naming value and choices."""
    from dexgrasp_env.config import make_env_config
    from dexgrasp_env.sim import resolve_backend

    with pytest.raises(ValueError, match=r"backend='physx' is unknown; expected one of \('auto', 'mujoco', 'warp'\)"):
        make_env_config("state", backend="physx")
    with pytest.raises(ValueError, match="backend='physx'"):
        gym.make("DexGrasp-State-v0", backend="physx")
    for threads in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=f"sim_threads={threads!r} must be an integer >= 1"):
            make_env_config("state", sim_threads=threads)
        with pytest.raises(ValueError, match=f"render_threads={threads!r} must be an integer >= 1"):
            make_env_config("state", render_threads=threads)
    with pytest.raises(ValueError, match=r"backend='mujoco' \(C MuJoCo\) runs on the CPU only, got device 'cuda:0'"):
        resolve_backend("mujoco", torch.device("cuda", 0))
    assert resolve_backend("auto", torch.device("cuda", 0)) == "warp"
    assert resolve_backend("auto", torch.device("cpu")) == "mujoco"
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="runs on the CPU only"):
            gym.make("DexGrasp-State-v0", backend="mujoco", device="cuda:0")


def test_bad_config_values():
    from dexgrasp_env.config import make_env_config

    with pytest.raises(ValueError, match="obs_mode='lidar'"):
        make_env_config("lidar")
    with pytest.raises(ValueError, match="extra_obs key 'pointcloud'"):
        make_env_config("state", extra_obs=("pointcloud",))
    with pytest.raises(ValueError, match="names a key twice"):
        make_env_config("depth", extra_obs=("state", "state"))
