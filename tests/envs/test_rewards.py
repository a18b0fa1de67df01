"""Reward terms are pure batched functions whose keys match the config's scales."""

import torch

from dexgrasp_env.config import REWARD_TERMS, RewardConfig
from dexgrasp_env.task import in_success_region, object_lost, reward_terms


def _terms(tips_offset=0.0, goal_offset=0.3, action=0.0):
    n = 3
    obj = torch.tensor([[0.6, 0.0, 0.03]]).expand(n, 3)
    tips = obj.unsqueeze(1).expand(n, 4, 3) + tips_offset
    goal = obj + torch.tensor([0.0, 0.0, goal_offset])
    hand = torch.zeros(n, 16)
    act = torch.full((n, 23), action)
    success = in_success_region(obj, goal, 0.1)
    return reward_terms(tips, obj, goal, hand, torch.ones(16), act, torch.zeros(n, 23), success, RewardConfig())


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
    assert torch.allclose(far["action"], torch.full((3,), 23 * 0.25))
    assert torch.allclose(far["action_rate"], torch.full((3,), 23 * 0.25))
    assert at["success"].all() and not far["success"].any()


def test_functions_have_no_side_effects():
    obj = torch.tensor([[0.6, 0.0, 0.03]])
    goal = torch.tensor([[0.6, 0.0, 0.3]])
    before = obj.clone(), goal.clone()
    in_success_region(obj, goal, 0.1)
    object_lost(obj, torch.zeros(3), torch.ones(3))
    assert torch.equal(obj, before[0]) and torch.equal(goal, before[1])


def test_object_lost():
    low, high = torch.tensor([0.0, -0.6, -0.05]), torch.tensor([1.1, 0.6, 1.0])
    pos = torch.tensor([[0.6, 0.0, 0.03], [0.6, 0.0, -0.2], [1.5, 0.0, 0.1]])
    assert object_lost(pos, low, high).tolist() == [False, True, True]


def test_every_term_is_logged_and_sums_to_the_reward(vision_task):
    task = vision_task
    task.reset(seed=2)
    _, reward, _, _, info = task.step(torch.rand(task.num_envs, 23))
    logged = torch.stack([info[f"reward/{k}"] for k in REWARD_TERMS]).sum(0)
    assert torch.allclose(logged, reward, atol=1e-5)
