"""Gymnasium 0.29 (what upstream CleanRL pins) and 1.x: the single env works on both, the vector env needs 1.x.

``.ci/run`` runs this file a second time in a small venv with ``gymnasium==0.29.1``.
"""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dexgrasp_env  # noqa: F401

GYM_1 = int(gym.__version__.split(".")[0]) >= 1


@pytest.mark.parametrize("env_id", ["DexGrasp-State-v0", "DexGrasp-Depth-v0"])
def test_single_env_on_the_installed_gymnasium(env_id):
    env = gym.make(env_id, camera=dexgrasp_env.config.CameraConfig(width=16, height=12))
    check_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and np.isfinite(reward) and "success" in info
    env.close()


def test_vector_env_needs_gymnasium_1():
    if GYM_1:
        env = gym.make_vec("DexGrasp-State-v0", num_envs=2)
        assert env.reset(seed=0)[0].shape == (2, env.single_observation_space.shape[0])
        env.close()
        return
    with pytest.raises(ImportError, match=r"needs gymnasium>=1.1; this is gymnasium 0\.29"):
        from dexgrasp_env.vector import DisaggregatedVectorEnv  # noqa: F401
