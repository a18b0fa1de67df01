"""Vector-env conformance, run against the in-process pool and a 2-worker CPU pool, on both backends."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import dexgrasp_env  # noqa: F401
from dexgrasp_env.spaces import STATE_SLICES, state_slices
from dexgrasp_env.vector import DisaggregatedVectorEnv
from tests.conftest import BACKENDS, SMALL_CAMERA

NUM_ENVS = 5
EPISODE_S = 10 / 60  # 10 control steps
DEVICES = {"inprocess": None, "workers": ("cpu", "cpu")}
LAYOUTS = [f"{d}-{b}" for d in DEVICES for b in BACKENDS]


def make(layout: str, mode: str, num_envs: int = NUM_ENVS, **kwargs) -> DisaggregatedVectorEnv:
    devices, backend = layout.split("-")
    kwargs.setdefault("camera", SMALL_CAMERA)
    kwargs.setdefault("episode_length_s", EPISODE_S)
    return gym.make_vec("DexGrasp-Depth-v0", num_envs=num_envs, sim_devices=DEVICES[devices], autoreset_mode=mode,
                        extra_obs=("state",), backend=backend, **kwargs)


_POOLS: dict = {}


@pytest.fixture(scope="module")
def pools():
    yield _POOLS
    for env in _POOLS.values():
        env.close()
    _POOLS.clear()


def pool(pools, layout: str, mode: str):
    key = (layout, mode)
    if key not in pools:
        pools[key] = make(layout, mode)
    return pools[key]


def actions(t: int, n: int = NUM_ENVS, dim: int = 11) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 + t)
    return torch.rand(n, dim, generator=gen) * 2 - 1


def rollout(env, steps: int, seed: int = 0):
    obs, _ = env.reset(seed=seed)
    out = [(obs, None, None, None, None)]
    for t in range(steps):
        out.append(env.step(actions(t, env.num_envs)))
    return out


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
def test_spaces_dtypes_devices(pools, layout):
    env = pool(pools, layout, "next_step")
    assert isinstance(env, gym.vector.VectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_action_space.shape == (11,) and env.action_space.shape == (NUM_ENVS, 11)
    assert set(env.single_observation_space.spaces) == {"depth", "proprio", "state"}
    assert env.observation_space["depth"].shape == (NUM_ENVS, 1, 24, 32)
    obs, info = env.reset(seed=0)
    assert info == {}
    obs, reward, terminated, truncated, info = env.step(actions(0))
    for key, space in env.observation_space.spaces.items():
        assert obs[key].shape == space.shape and obs[key].dtype == torch.float32 and obs[key].device.type == "cpu"
        assert space.contains(obs[key].numpy())
    assert reward.shape == (NUM_ENVS,) and reward.dtype == torch.float32
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    for key in ("success", "lifted", "diverged", "reward/lift", "episode_stats"):
        assert info[f"_{key}"].shape == (NUM_ENVS,) and info[f"_{key}"].dtype == torch.bool


@pytest.mark.parametrize("layout", LAYOUTS)
def test_next_step_autoreset_and_statistics(pools, layout):
    env = pool(pools, layout, "next_step")
    steps = rollout(env, 12)
    returns = torch.zeros(NUM_ENVS)
    for t in range(1, 11):
        _, reward, terminated, truncated, info = steps[t]
        returns += reward
        done = terminated | truncated
        if t < 10:
            assert not done.any() and not info["_episode_stats"].any()
    _, reward, terminated, truncated, info = steps[10]
    assert truncated.all() and info["_episode_stats"].all()
    assert torch.allclose(info["episode_stats"]["r"], returns, atol=1e-5)
    assert (info["episode_stats"]["l"] == 10).all()
    # the next step resets: first observation, zero reward, no flags
    obs, reward, terminated, truncated, info = steps[11]
    assert (reward == 0).all() and not (terminated | truncated).any()
    assert (obs["state"][:, state_slices(env.cfg)["last_action"]] == 0).all()  # a fresh episode
    assert not torch.equal(obs["state"][:, STATE_SLICES["goal"]], steps[10][0]["state"][:, STATE_SLICES["goal"]])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_same_step_final_obs_is_the_true_last_observation(pools, layout):
    """SAME_STEP's final_obs is NEXT_STEP's last observation; its returned obs is the reset one."""
    same = pool(pools, layout, "same_step")
    nxt = pool(pools, layout, "next_step")
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    a = rollout(same, 11)
    b = rollout(nxt, 11)
    for t in range(1, 10):
        for key in ("depth", "state"):
            assert torch.equal(a[t][0][key], b[t][0][key])
    obs, reward, terminated, truncated, info = a[10]
    assert truncated.all() and info["_final_obs"].all() and info["_final_info"].all()
    for key in ("depth", "proprio", "state"):
        assert torch.equal(info["final_obs"][key], b[10][0][key])  # the true last observation
        assert torch.equal(obs[key], b[11][0][key])  # the reset observation
        assert not torch.equal(obs[key], info["final_obs"][key])
    assert torch.equal(info["final_info"]["episode_stats"]["r"], b[10][4]["episode_stats"]["r"])
    assert torch.equal(reward, b[10][1])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_disabled_mode_and_partial_episodes(pools, layout):
    """Only ``reset_mask`` resets: the masked environments' episodes end four steps after the others'."""
    env = pool(pools, layout, "disabled")
    assert env.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    env.reset(seed=3)
    for t in range(4):
        env.step(actions(t))
    mask = np.array([True, False, True, False, False])
    obs, _ = env.reset(options={"reset_mask": mask})
    ended_at = {}
    for t in range(4, 16):
        obs, reward, terminated, truncated, info = env.step(actions(t))
        for i in info["_episode_stats"].nonzero()[:, 0].tolist():
            ended_at.setdefault(i, t)
            assert int(info["episode_stats"]["l"][i]) >= 10
    # envs 1, 3, 4 end at their 10th step (t = 9); the reset ones, 0 and 2, four steps later
    assert ended_at == {0: 13, 1: 9, 2: 13, 3: 9, 4: 9}
    with pytest.raises(ValueError, match="reset_mask must be a bool array of shape"):
        env.reset(options={"reset_mask": np.ones(3, dtype=bool)})


@pytest.mark.parametrize("backend", BACKENDS)
def test_bit_identical_across_worker_counts(pools, backend):
    """Environment i depends only on (seed, i) and its actions: in-process, 1 or 2 workers give the same bits (the
    in-process and 2-worker pools are the module's, already stepped by other tests: a seeded reset starts over)."""
    one_worker = gym.make_vec("DexGrasp-Depth-v0", num_envs=NUM_ENVS, sim_devices=("cpu",), camera=SMALL_CAMERA,
                              episode_length_s=EPISODE_S, extra_obs=("state",), backend=backend)
    one = rollout(one_worker, 14, seed=123)
    one_worker.close()
    local, two = (rollout(pool(pools, f"{devices}-{backend}", "next_step"), 14, seed=123)
                  for devices in DEVICES)
    for other in (one, two):
        for t, (ref, got) in enumerate(zip(local, other)):
            for key in ("depth", "proprio", "state"):
                assert torch.equal(ref[0][key], got[0][key]), (t, key)
            if t:
                assert torch.equal(ref[1], got[1]) and torch.equal(ref[3], got[3]), t


def test_seed_changes_everything_and_repeats():
    env = gym.make_vec("DexGrasp-State-v0", num_envs=3)
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=2)
    c, _ = env.reset(seed=1)
    assert torch.equal(a, c) and not torch.equal(a, b)
    with pytest.raises(ValueError, match="one integer"):
        env.reset(seed=[1, 2, 3])
    env.close()


@pytest.mark.parametrize("devices", DEVICES)
def test_numpy_option(devices):
    env = gym.make_vec("DexGrasp-State-v0", num_envs=2, sim_devices=DEVICES[devices], numpy_obs=True)
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.zeros((2, 11), dtype=np.float32))
    assert isinstance(obs, np.ndarray) and obs.shape == (2, 104) and obs.dtype == np.float32
    assert isinstance(reward, np.ndarray) and isinstance(info["success"], np.ndarray)
    env.close()


def test_close_is_idempotent_and_final():
    env = gym.make_vec("DexGrasp-State-v0", num_envs=2, sim_devices=("cpu",))
    env.reset(seed=0)
    env.close()
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.step(torch.zeros(2, 11))


def test_render_gives_one_frame_per_env():
    env = gym.make_vec("DexGrasp-State-v0", num_envs=3, sim_devices=("cpu", "cpu"), render_mode="rgb_array",
                       render_width=48, render_height=32)
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 3 and frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8
    assert frames[0].std() > 5
    env.close()
