"""Pipelining: two halves per worker that step while the learner acts on the other half."""

import gymnasium as gym
import pytest
import torch

import dexgrasp_env  # noqa: F401
from tests.conftest import SMALL_CAMERA

N = 8


def _actions(t):
    return torch.rand(N, 11, generator=torch.Generator().manual_seed(t)) * 2 - 1


def test_halves_step_independently_and_match_an_unpipelined_pool():
    kw = dict(num_envs=N, camera=SMALL_CAMERA, episode_length_s=0.1)
    ref = gym.make_vec("DexGrasp-Depth-v0", **kw)  # in-process: the same bits as any worker count
    env = gym.make_vec("DexGrasp-Depth-v0", pipeline=True, sim_devices=("cpu", "cpu"), **kw)
    # the pipelined pool as a whole behaves like the plain one
    assert torch.equal(ref.reset(seed=4)[0]["depth"], env.reset(seed=4)[0]["depth"])
    for t in range(3):
        a, b = ref.step(_actions(t)), env.step(_actions(t))
        assert torch.equal(a[0]["proprio"], b[0]["proprio"]) and torch.equal(a[1], b[1])
    # the halves: worker 0 holds envs 0-3 (halves 0-1 and 2-3), worker 1 holds 4-7
    half_a, half_b = env.halves()
    rows = {0: [0, 1, 4, 5], 1: [2, 3, 6, 7]}
    assert half_a.num_envs == half_b.num_envs == 4
    obs_a, _ = half_a.reset(seed=9)
    obs_b, _ = half_b.reset(seed=9)
    ref_obs, _ = ref.reset(seed=9)
    assert torch.equal(obs_a["depth"], ref_obs["depth"][rows[0]])
    assert torch.equal(obs_b["depth"], ref_obs["depth"][rows[1]])
    half_a.step_async(_actions(0)[rows[0]])
    for t in range(12):  # the double-buffered loop, through an episode end
        half_b.step_async(_actions(t)[rows[1]])
        obs_a, rew_a, term_a, trunc_a, _ = half_a.step_wait()
        half_a.step_async(_actions(t + 1)[rows[0]])
        obs_b, rew_b, term_b, trunc_b, _ = half_b.step_wait()
        ref_obs, ref_rew, ref_term, ref_trunc, _ = ref.step(_actions(t))
        assert torch.equal(obs_a["proprio"], ref_obs["proprio"][rows[0]])
        assert torch.equal(obs_b["proprio"], ref_obs["proprio"][rows[1]])
        assert torch.equal(rew_a, ref_rew[rows[0]]) and torch.equal(trunc_b, ref_trunc[rows[1]])
    half_a.step_wait()
    ref.close()
    env.close()


def test_halves_need_a_pipelined_pool():
    env = gym.make_vec("DexGrasp-State-v0", num_envs=2)
    with pytest.raises(RuntimeError, match="pipeline=True"):
        env.halves()
    env.close()
