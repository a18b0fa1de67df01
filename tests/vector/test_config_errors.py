"""Bad pool layouts get clear errors before any process starts."""

import gymnasium as gym
import pytest
import torch

import dexgrasp_env  # noqa: F401


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_envs=1, sim_devices=("cpu", "cpu")), ValueError, r"num_envs=1 is smaller than the number of workers \(2\)"),
        (dict(num_envs=3, sim_devices=("cpu", "cpu"), pipeline=True), ValueError, "two pipeline halves"),
        (dict(num_envs=0), ValueError, "num_envs=0 must be a positive integer"),
        (dict(num_envs=2, sim_devices=("tpu",)), ValueError, "unknown device 'tpu'"),
        (dict(num_envs=2, sim_devices=()), ValueError, "sim_devices is empty"),
        (dict(num_envs=2, learner_device="cuda:3"), ValueError, "device 'cuda:3' is not available"),
        (dict(num_envs=2, autoreset_mode="sometimes"), ValueError, "autoreset_mode='sometimes' is unknown"),
        (dict(num_envs=2, sim_devices=("cpu",), transport="nccl"), ValueError, "transport='nccl' needs the learner"),
        (dict(num_envs=2, sim_devices=("cpu",), transport="carrier-pigeon"), ValueError, "transport='carrier-pigeon'"),
        (dict(num_envs=2, launch="torchrun"), RuntimeError, "init_process_group"),
        (dict(num_envs=2, render_mode="human"), ValueError, "render_mode='human'"),
        (dict(num_envs=2, sim_devices=("cpu",), backend="physx"), ValueError, "backend='physx' is unknown"),
        (dict(num_envs=2, sim_devices=("cpu",), sim_threads=0), ValueError, "sim_threads=0 must be an integer >= 1"),
    ],
)
def test_bad_layouts(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make_vec("DexGrasp-State-v0", **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_worker_without_cuda():
    with pytest.raises(ValueError, match="'cuda:0' is not available: torch.cuda.is_available"):
        gym.make_vec("DexGrasp-State-v0", num_envs=2, sim_devices=("cuda:0",))


def test_bad_actions_on_the_pool():
    env = gym.make_vec("DexGrasp-State-v0", num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3, 11\); expected \(2, 11\)"):
        env.step(torch.zeros(3, 11))
    with pytest.raises(ValueError, match="NaN"):
        env.step(torch.full((2, 11), float("nan")))
    env.step(torch.zeros(2, 11))
    env.close()
