"""A diverged world is reset at once and counted; its state is never observed."""

import torch


def test_nan_state_resets_that_world_and_is_counted(vision_task):
    task = vision_task
    task.reset(seed=0)
    task.step(torch.zeros(task.num_envs, task.action_dim))
    task.sim.qvel[2, 5] = float("nan")
    obs, reward, terminated, truncated, info = task.step(torch.zeros(task.num_envs, task.action_dim))
    assert info["diverged"].tolist() == [False, False, True, False]
    assert truncated[2] and not terminated[2] and reward[2] == 0
    for value in obs.values():
        assert torch.isfinite(value.float()).all()
    assert task.step_count[2] == 0 and torch.isfinite(task.sim.qvel).all()
    # the others carried on
    assert (task.step_count[[0, 1, 3]] == 2).all()
    obs, *_ = task.step(torch.zeros(task.num_envs, task.action_dim))
    assert torch.isfinite(task.sim.qpos).all()
