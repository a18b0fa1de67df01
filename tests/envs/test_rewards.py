"""Reward terms are pure batched functions whose keys match the config's scales."""

import torch

from dexgrasp_env.config import REWARD_TERMS, RewardConfig
from dexgrasp_env.rewards import has_diverged, in_success_region, is_lifted, object_lost, reward_terms


def _inputs(tips_offset=0.0, goal_offset=0.3, action=0.0, rise=0.05):
    n = 3
    obj = torch.tensor([[0.6, 0.0, 0.03]]).expand(n, 3)
    tips = obj.unsqueeze(1).expand(n, 4, 3) + tips_offset
    goal = obj + torch.tensor([0.0, 0.0, goal_offset])
    success = in_success_region(obj, goal, 0.1)
    return (tips, obj, goal, torch.full((n,), rise), torch.zeros(n, 16), torch.ones(16), torch.full((n, 11), action),
            torch.zeros(n, 11), success, RewardConfig())


def _terms(**kwargs):
    return reward_terms(*_inputs(**kwargs))


def test_keys_match_config_scales():
    assert tuple(_terms().keys()) == REWARD_TERMS == tuple(RewardConfig().scales())


def test_term_values():
    at = _terms(tips_offset=0.0, goal_offset=0.0)
    far = _terms(tips_offset=0.1, goal_offset=0.3, action=0.5)
    assert torch.allclose(at["fingertip_to_object"], torch.ones(3))
    assert torch.allclose(far["fingertip_to_object"], torch.exp(torch.tensor(-10 * 0.1 * 3**0.5)))
    assert torch.allclose(at["object_to_goal"], torch.ones(3)) and (far["object_to_goal"] < 0.02).all()
    assert torch.allclose(far["lift"], torch.exp(torch.tensor(-8.5 * 0.3)))
    assert torch.allclose(at["finger_curl"], torch.full((3,), 16.0))
    assert torch.allclose(far["action"], torch.full((3,), 11 * 0.25))
    assert torch.allclose(far["action_rate"], torch.full((3,), 11 * 0.25))
    assert at["success"].all() and not far["success"].any()


def test_object_to_goal_is_paid_only_once_the_object_is_lifted():
    gate = RewardConfig().goal_gate_height
    on_table = _terms(goal_offset=0.05, rise=0.0)
    just_below = _terms(goal_offset=0.05, rise=0.9 * gate)
    lifted = _terms(goal_offset=0.05, rise=1.5 * gate)
    assert (on_table["object_to_goal"] == 0).all() and (just_below["object_to_goal"] == 0).all()
    assert torch.allclose(lifted["object_to_goal"], torch.exp(torch.tensor(-15 * 0.05)))
    # the other terms do not depend on the gate
    for k in REWARD_TERMS:
        if k != "object_to_goal":
            assert torch.equal(on_table[k], lifted[k]), k


def test_functions_have_no_side_effects():
    inputs = _inputs(tips_offset=0.02, action=0.3)
    before = [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]
    first = reward_terms(*inputs)
    has_diverged(torch.zeros(3, 30), torch.zeros(3, 29), torch.ones(29))
    again = reward_terms(*inputs)
    for x, y in zip(inputs, before):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y)
    for k in first:
        assert torch.equal(first[k], again[k]), k


def test_object_lost_and_lifted():
    low, high = torch.tensor([0.0, -0.6, -0.05]), torch.tensor([1.1, 0.6, 1.0])
    pos = torch.tensor([[0.6, 0.0, 0.03], [0.6, 0.0, -0.2], [1.5, 0.0, 0.1]])
    assert object_lost(pos, low, high).tolist() == [False, True, True]
    assert is_lifted(torch.tensor([0.0, 0.099, 0.1, 0.3]), 0.1).tolist() == [False, False, True, True]


def test_divergence_flags_non_finite_and_impossibly_fast_worlds():
    qpos, qvel, limits = torch.zeros(5, 30), torch.zeros(5, 29), torch.full((29,), 20.0)
    qpos[1, 3] = float("nan")
    qvel[2, 5] = float("inf")
    qvel[3, 24] = 25.0
    qpos[4, 0] = float("-inf")
    assert has_diverged(qpos, qvel, limits).tolist() == [False, True, True, True, True]


def test_every_term_is_logged_and_sums_to_the_reward(vision_task):
    task = vision_task
    task.reset(seed=2)
    _, reward, _, _, info = task.step(torch.rand(task.num_envs, task.action_dim))
    logged = torch.stack([info[f"reward/{k}"] for k in REWARD_TERMS]).sum(0)
    assert torch.allclose(logged, reward, atol=1e-5)
    assert reward.abs().min() > 0
