"""Reward terms, success, lifting, termination and divergence: small pure functions of batched tensors.

Each function takes ``(N, ...)`` tensors and returns ``(N,)`` results, so the task layer, tests and
anyone writing their own reward can call them on any batch, device or backend.
"""

from __future__ import annotations

import torch

from dexgrasp_env.config import RewardConfig

DIVERGENCE_LIMITS = (200.0, 20.0, 400.0)
"""A world diverged when its state is not finite or when a robot joint turns faster than 200 rad/s,
the object moves faster than 20 m/s or spins faster than 400 rad/s: speeds no real grasp reaches,
which only a failed contact solve produces (and which a policy must not be able to exploit)."""


def reward_terms(
    fingertip_pos: torch.Tensor,
    object_pos: torch.Tensor,
    goal: torch.Tensor,
    rise: torch.Tensor,
    hand_q: torch.Tensor,
    curled_q: torch.Tensor,
    action: torch.Tensor,
    prev_action: torch.Tensor,
    in_success: torch.Tensor,
    cfg: RewardConfig,
) -> dict[str, torch.Tensor]:
    """Unscaled reward terms, one ``(N,)`` tensor per key of ``RewardConfig.scales()``.

    Args:
        fingertip_pos: ``(N, 4, 3)`` fingertip positions.
        object_pos: ``(N, 3)`` object centre.
        goal: ``(N, 3)`` goal point.
        rise: ``(N,)`` height of the object above its rest height (m): the object-to-goal term is
            paid only above ``cfg.goal_gate_height``.
        hand_q: ``(N, 16)`` finger joint angles.
        curled_q: ``(16,)`` the curled hand pose of the regulariser.
        action, prev_action: ``(N, A)`` this and the previous action.
        in_success: ``(N,)`` bool, object inside the success region.
        cfg: shapes of the terms.
    """
    norm = torch.linalg.vector_norm
    tip_dist = norm(fingertip_pos - object_pos.unsqueeze(1), dim=-1).amax(dim=1)
    goal_dist = norm(object_pos - goal, dim=-1)
    gate = rise > cfg.goal_gate_height
    return {
        "fingertip_to_object": torch.exp(-cfg.fingertip_sharpness * tip_dist),
        "object_to_goal": torch.exp(-cfg.goal_sharpness * goal_dist) * gate,  # bool gate: 0 or 1
        "lift": torch.exp(-cfg.lift_sharpness * (goal[:, 2] - object_pos[:, 2]).abs()),
        "finger_curl": (hand_q - curled_q).square().sum(-1),
        "action": action.square().sum(-1),
        "action_rate": (action - prev_action).square().sum(-1),
        "success": in_success.float(),
    }


def in_success_region(object_pos: torch.Tensor, goal: torch.Tensor, threshold: float) -> torch.Tensor:
    """``(N,)`` bool: the object is within ``threshold`` metres of the goal."""
    return torch.linalg.vector_norm(object_pos - goal, dim=-1) < threshold


def is_lifted(rise: torch.Tensor, height: float) -> torch.Tensor:
    """``(N,)`` bool: the object is at least ``height`` metres above its rest height."""
    return rise >= height


def object_lost(object_pos: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the object left the workspace box (or fell below the table)."""
    return ((object_pos < low) | (object_pos > high)).any(dim=-1)


def divergence_limits(num_robot_dofs: int, object_dofs: slice, nv: int) -> torch.Tensor:
    """``(nv,)`` the speed limit of every degree of freedom (:data:`DIVERGENCE_LIMITS`)."""
    robot, linear, angular = DIVERGENCE_LIMITS
    limits = torch.full((nv,), robot)
    start = object_dofs.start
    limits[start : start + 3] = linear
    limits[start + 3 : start + 6] = angular
    return limits


def has_diverged(qpos: torch.Tensor, qvel: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the world's state is not finite, or some speed exceeds its limit.

    Args:
        qpos, qvel: ``(N, nq)``, ``(N, nv)`` state.
        limits: ``(nv,)`` speed limits (:func:`divergence_limits`).
    """
    # NaN compares False, so a NaN or infinite speed fails "<= limit" like a fast one; a sum over qpos is
    # not finite when any entry is not (inf - inf is NaN)
    return ~((qvel.abs() <= limits).all(1) & torch.isfinite(qpos.sum(1)))
