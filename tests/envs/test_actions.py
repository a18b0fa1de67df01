"""The action modes do what they say: palm motion through IK, synergies only move the fingers."""

import math

import pytest
import torch

from dexgrasp_env.actions import PALM_DIMS, SYNERGY_DIRECTIONS, action_dim, synergy_basis
from dexgrasp_env.config import RandomizationConfig
from dexgrasp_env.rotations import quat_conj, quat_mul, rotvec_from_quat
from dexgrasp_env.task import GraspTask
from tests.conftest import BACKENDS, small_config

STEPS, SETTLE = 10, 40  # command for 1/6 s, then hold still while the servos catch up


@pytest.fixture(scope="module", params=BACKENDS)
def palm_task(request):
    cfg = small_config("state", backend=request.param, randomization=RandomizationConfig.none(), arm_start_noise=0.0,
                       shapes=("cube_small",))
    return GraspTask(cfg, 2, "cpu", autoreset_mode="disabled")


def _run(task, command: torch.Tensor):
    task.reset(seed=0)
    # move the object out of the way: this checks the arm, not a grasp
    task.sim.qpos[:, task.sim.object_qpos.start] = 1.0
    task.sim.forward()
    sim = task.sim
    zero = torch.zeros(task.num_envs, task.action_dim)
    for _ in range(10):  # let the start pose settle
        task.step(zero)
    pos0, quat0 = sim.palm_pos.clone(), sim.palm_quat.clone()
    action = zero.clone()
    action[:, : len(command)] = command
    for _ in range(STEPS):
        task.step(action)
    for _ in range(SETTLE):
        task.step(zero)
    turn = rotvec_from_quat(quat_mul(sim.palm_quat, quat_conj(quat0)))
    return sim.palm_pos - pos0, turn


def test_palm_translation_moves_the_palm_by_the_commanded_amount(palm_task):
    task = palm_task
    for axis in range(3):
        command = torch.zeros(PALM_DIMS)
        command[axis] = 1.0 if axis < 2 else -1.0  # down: the palm starts 28 cm above the table
        moved, turn = _run(task, command)
        want = command[:3] * task.cfg.palm.position_scale * STEPS
        assert (moved[:, axis] - want[axis]).abs().max() <= 0.15 * want[axis].abs(), (axis, moved)
        assert (moved - want).norm(dim=-1).max() <= 0.15 * want.norm(), (axis, moved)
        assert turn.norm(dim=-1).max() < math.radians(3), (axis, turn)


def test_palm_rotation_turns_the_palm_in_place(palm_task):
    task = palm_task
    for axis in range(3):
        command = torch.zeros(PALM_DIMS)
        command[3 + axis] = 1.0
        moved, turn = _run(task, command)
        want = task.cfg.palm.rotation_scale * STEPS
        assert moved.norm(dim=-1).max() < 0.01, (axis, moved)
        assert (turn[:, axis] - want).abs().max() <= 0.15 * want, (axis, turn)
        others = [k for k in range(3) if k != axis]
        assert turn[:, others].abs().max() < 0.15 * want, (axis, turn)


def test_synergies_change_only_the_finger_targets(palm_task):
    task = palm_task
    task.reset(seed=0)
    before = task.targets.clone()
    action = torch.zeros(task.num_envs, task.action_dim)
    for k in range(5):
        action[:, PALM_DIMS:] = 0.0
        action[:, PALM_DIMS + k] = 0.8
        task.step(action)
        assert torch.equal(task.targets[:, :7], before[:, :7])
        assert (task.targets[:, 7:] - before[:, 7:]).abs().max() > 0.05, k
    # zero synergies give back the open start pose
    task.step(torch.zeros(task.num_envs, task.action_dim))
    assert torch.allclose(task.targets[:, 7:], before[:, 7:])


def test_synergy_basis_is_orthonormal_and_starts_with_the_power_grasp():
    basis = synergy_basis()
    assert basis.shape == (16, 5)
    assert torch.allclose(basis.T @ basis, torch.eye(5), atol=1e-5)
    power = torch.tensor(SYNERGY_DIRECTIONS["power"])
    assert torch.allclose(basis[:, 0], power / power.norm(), atol=1e-6)


def test_action_sizes():
    assert action_dim(small_config("state")) == 11
    assert action_dim(small_config("state", action_mode="joint")) == 23
    with pytest.raises(ValueError, match="action_mode='fabric'"):
        small_config("state", action_mode="fabric")
