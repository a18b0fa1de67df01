"""The registered environments: Gymnasium conformance, long random rollouts, import hygiene."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import dexgrasp_env  # noqa: F401  (registers the ids)
from dexgrasp_env.config import ENV_IDS, CameraConfig
from tests.conftest import BACKENDS, SMALL_CAMERA, small_config


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_check_env(env_id, backend):
    env = gym.make(env_id, camera=SMALL_CAMERA, render_mode="rgb_array", backend=backend)
    check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    frame = env.render()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8 and frame.std() > 5
    env.close()


def test_observation_keys_per_id():
    assert gym.make("DexGrasp-State-v0").observation_space.shape == (93 + 11,)
    assert gym.make("DexGrasp-State-v0", action_mode="joint").observation_space.shape == (93 + 23,)
    depth = gym.make("DexGrasp-Depth-v0", camera=SMALL_CAMERA).observation_space
    assert set(depth.spaces) == {"depth", "proprio"} and depth["depth"].shape == (1, 24, 32)
    stereo = gym.make("DexGrasp-StereoRGB-v0", camera=SMALL_CAMERA, extra_obs=("state", "depth")).observation_space
    assert set(stereo.spaces) == {"left", "right", "proprio", "state", "depth"}
    assert stereo["left"].dtype == np.uint8 and stereo["left"].shape == (3, 24, 32)


# both action modes on C MuJoCo, the default on Warp: the action maps are the same batched torch code on both
# backends, and joint targets drive Warp in the parity and scripted-grasp tests. Warp's CPU device steps its worlds
# one after another, so it runs 4 worlds (16 cost 30 s of the CI budget); C MuJoCo runs 16.
@pytest.mark.parametrize("backend, action_mode, worlds", [("mujoco", "palm_synergy", 16), ("mujoco", "joint", 16),
                                                          ("warp", "palm_synergy", 4)])
def test_thousand_random_steps_stay_finite(backend, action_mode, worlds):
    """1,000 random-action steps (depth + state; through a reset at the 600-step time-out): no NaN, no error."""
    from dexgrasp_env.task import GraspTask

    cfg = small_config("depth", extra_obs=("state",), camera=CameraConfig(width=16, height=12), backend=backend,
                       action_mode=action_mode)
    task = GraspTask(cfg, worlds, "cpu", autoreset_mode="next_step")
    task.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    diverged = 0
    for _ in range(1000):
        obs, reward, terminated, truncated, info = task.step(torch.rand(worlds, task.action_dim, generator=gen) * 2 - 1)
        for value in obs.values():
            assert torch.isfinite(value).all()
        assert torch.isfinite(reward).all()
        diverged += int(info["diverged"].sum())
    assert diverged == 0
    assert torch.isfinite(task.sim.qpos).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_trajectory(backend):
    env = gym.make("DexGrasp-State-v0", backend=backend)
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        traj = [obs]
        for t in range(20):
            obs, reward, *_ = env.step(np.full(env.action_space.shape, 0.3 * np.sin(t), dtype=np.float32))
            traj.append(obs)
        runs.append(np.stack(traj))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_import_starts_no_simulator():
    code = ("import sys, dexgrasp_env, gymnasium; "
            "bad = [m for m in ('warp', 'mujoco_warp', 'torch', 'mujoco') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
