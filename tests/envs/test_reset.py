"""Partial resets and episode boundaries."""

import torch


def _snapshot(task):
    sim = task.sim
    state = {"qpos": sim.qpos, "qvel": sim.qvel, "ctrl": sim.ctrl, "site_xpos": sim.site_xpos,
             "targets": task.targets, "goal": task.goal, "step": task.step_count, "episode": task.episode,
             "last_action": task.last_action, "mocap": sim.mocap_pos}
    state.update({f"field/{k}": v for k, v in sim.fields.items()})
    return {k: v.clone() for k, v in state.items()}


def test_partial_reset_leaves_other_worlds_bit_identical(vision_task):
    task = vision_task
    task.reset(seed=5)
    gen = torch.Generator().manual_seed(1)
    for _ in range(10):
        task.step(torch.rand(task.num_envs, task.action_dim, generator=gen) * 2 - 1)
    before = _snapshot(task)
    obs_before = {k: v.clone() for k, v in task.last_obs.items()}
    mask = torch.tensor([False, True, False, True])
    obs = task.reset(mask=mask)
    after = _snapshot(task)
    keep = ~mask
    for key in before:
        assert torch.equal(before[key][keep], after[key][keep]), key
    for key in obs:
        assert torch.equal(obs[key][keep], obs_before[key][keep]), key
    assert (after["step"][mask] == 0).all() and (before["step"][mask] == 10).all()
    assert (after["episode"][mask] == before["episode"][mask] + 1).all()
    assert not torch.equal(after["qpos"][mask], before["qpos"][mask])
    assert (after["qvel"][mask] == 0).all() and (after["last_action"][mask] == 0).all()


def test_truncation_at_time_limit_and_next_step_reset(vision_task):
    task = vision_task
    task.reset(seed=0)
    task.step_count.fill_(task.cfg.max_episode_steps - 1)
    obs, reward, terminated, truncated, info = task.step(torch.zeros(task.num_envs, task.action_dim))
    assert truncated.all() and not terminated.any()
    assert info["_episode_stats"].all()
    assert (info["episode_stats"]["l"] == task.cfg.max_episode_steps).all()
    # next_step: the following call resets them, returns a first observation with zero reward
    obs, reward, terminated, truncated, info = task.step(torch.ones(task.num_envs, task.action_dim))
    assert (reward == 0).all() and not (terminated | truncated).any()
    assert (task.step_count == 0).all()
    assert (task.last_action == 0).all()  # the action of a reset step is ignored


def test_object_leaving_workspace_terminates(vision_task):
    task = vision_task
    task.reset(seed=0)
    task.sim.qpos[0, 25] = -0.5  # below the table
    task.sim.qvel[0, 23:29] = 0
    _, _, terminated, truncated, _ = task.step(torch.zeros(task.num_envs, task.action_dim))
    assert terminated[0] and not truncated[0]
    assert not terminated[1:].any()
