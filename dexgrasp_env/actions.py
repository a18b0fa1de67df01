"""Action modes: how a policy's actions in ``[-1, 1]`` become the 23 joint-position targets.

``joint`` (23-D, Isaac Lab's Dexsuite): each action moves its joint's target by up to
``action_scale`` radians per control step.

``palm_synergy`` (11-D, after DextrAH's fabric action space, the default):

* ``a[0:3]``: palm translation per control step, up to ``palm.position_scale`` metres per axis
  (world frame), kept inside the box ``palm.palm_low`` .. ``palm.palm_high`` (whose floor keeps
  the palm above the table);
* ``a[3:6]``: palm rotation per control step, a world-frame rotation vector of up to
  ``palm.rotation_scale`` radians per axis;
* ``a[6:11]``: five finger synergies, absolute: ``q_hand = HAND_OPEN + clip(a6, 0, 1) * (q_closed -
  q_open) + sum_k a_k * synergy_scale * b_k``, then clipped to the joint ranges. Zero action is the
  open start pose; ``a6 = 1`` is the scripted power grasp.

The palm motion becomes arm joint targets by damped least squares on the palm Jacobian, built in
torch from the joint axes and anchors the simulator reports (``J_pos[:, j] = axis_j x (p_palm -
anchor_j)``, ``J_rot[:, j] = axis_j``): batched, no per-env loop, any backend. The increment is
added to the previous *arm target*, and the palm and Jacobian are those of the arm at its targets
(``Simulator.arm_frames``), not of the measured joint angles: the servos lag a few centimetres
behind during a motion, and either shortcut would shrink every commanded motion (integrating
from the measured angles several-fold, a Jacobian of the lagging state by ~20 % over 15 cm). Joints
near a limit are weighted down (``w = clip(distance / joint_margin, 0.05, 1)``: they move less, the
others take over) before the final hard clip to the ranges.

The synergy basis (16 finger joints: index, middle, ring (abduction, 3 flexions), thumb (rotation,
abduction, 2 flexions)) is :data:`SYNERGY_DIRECTIONS` orthonormalised in order (Gram-Schmidt):
power grasp (open -> scripted grasp), pinch (index and thumb), thumb opposition, finger spread,
tip curl (distal against proximal flexion).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.robot.scene import HAND_GRASP, HAND_HOME

PALM_DIMS, SYNERGY_DIMS = 6, 5
_F = (0.0, 0.0, 0.0, 0.0)
#: Raw synergy directions over the 16 finger joints, before orthonormalisation.
SYNERGY_DIRECTIONS: dict[str, tuple[float, ...]] = {
    "power": tuple(c - o for c, o in zip(HAND_GRASP, HAND_HOME)),
    "pinch": (0.0, 1.0, 0.8, 0.6) + _F + _F + (0.3, 0.6, 0.6, 0.6),
    "thumb_opposition": _F + _F + _F + (1.0, 0.5, 0.0, 0.0),
    "spread": (1.0, 0.0, 0.0, 0.0) + _F + (-1.0, 0.0, 0.0, 0.0) + _F,
    "tip_curl": (0.0, -1.0, 1.0, 1.0) * 3 + (0.0, 0.0, -1.0, 1.0),
}


def synergy_basis() -> torch.Tensor:
    """``(16, 5)`` orthonormal columns: :data:`SYNERGY_DIRECTIONS` after Gram-Schmidt, in order."""
    raw = torch.tensor(list(SYNERGY_DIRECTIONS.values()), dtype=torch.float64).T
    q, r = torch.linalg.qr(raw)
    return (q * torch.sign(torch.diagonal(r))).float()  # keep each direction's sign


def action_dim(cfg: EnvConfig) -> int:
    """Size of one environment's action."""
    return PALM_DIMS + SYNERGY_DIMS if cfg.action_mode == "palm_synergy" else 23


def action_space(cfg: EnvConfig) -> gym.spaces.Box:
    """One environment's action space: ``action_dim(cfg)`` values in ``[-1, 1]``."""
    return gym.spaces.Box(-1.0, 1.0, (action_dim(cfg),), np.float32)


def check_actions(actions, num_envs: int | None, dim: int, device: torch.device | None = None) -> None:
    """Raise ``ValueError`` unless ``actions`` is a finite float array of shape ``(num_envs, dim)``.

    Args:
        actions: A torch tensor or numpy array.
        num_envs: Expected batch size, or ``None`` for a single environment (shape ``(dim,)``).
        dim: The action size (:func:`action_dim`).
        device: Expected device of a torch tensor.
    """
    shape = (dim,) if num_envs is None else (num_envs, dim)
    if isinstance(actions, torch.Tensor):
        if not actions.is_floating_point():
            raise ValueError(f"actions have dtype {actions.dtype}; expected a floating dtype (float32)")
        if device is not None and actions.device != device:
            raise ValueError(f"actions are on device {actions.device}; expected {device}")
        finite = bool(torch.isfinite(actions).all())
    elif isinstance(actions, np.ndarray):
        if not np.issubdtype(actions.dtype, np.floating):
            raise ValueError(f"actions have dtype {actions.dtype}; expected a floating dtype (float32)")
        finite = bool(np.isfinite(actions).all())
    else:
        raise ValueError(f"actions are a {type(actions).__name__}; expected a torch.Tensor or numpy.ndarray")
    if tuple(actions.shape) != shape:
        raise ValueError(f"actions have shape {tuple(actions.shape)}; expected {shape}")
    if not finite:
        raise ValueError("actions contain NaN or inf values; expected finite numbers in [-1, 1]")


class JointActions:
    """``joint`` mode: relative joint-position targets (see the module docstring)."""

    def __init__(self, cfg: EnvConfig, sim) -> None:
        self.scale = cfg.action_scale
        self.low, self.high = sim.joint_range[:, 0].to(sim.device), sim.joint_range[:, 1].to(sim.device)

    def targets(self, targets: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """New joint targets ``(N, 23)`` from the previous ones and actions ``(N, 23)`` in [-1, 1]."""
        return torch.clamp(targets + self.scale * actions, self.low, self.high)


class PalmSynergyActions:
    """``palm_synergy`` mode: palm motion through IK and five finger synergies (see the module docstring)."""

    def __init__(self, cfg: EnvConfig, sim) -> None:
        p, dev = cfg.palm, sim.device
        self.sim = sim
        f32 = dict(dtype=torch.float32, device=dev)
        low, high = sim.joint_range[:, 0].to(dev), sim.joint_range[:, 1].to(dev)
        arm, hand = sim.arm_qpos, sim.hand_qpos
        eps = 1e-3
        self.arm_low, self.arm_high = low[arm] + eps, high[arm] - eps
        self.hand_low, self.hand_high = low[hand], high[hand]
        self.position_scale, self.rotation_scale = p.position_scale, p.rotation_scale
        self.margin = p.joint_margin
        self.palm_low, self.palm_high = torch.tensor(p.palm_low, **f32), torch.tensor(p.palm_high, **f32)
        self.open = torch.tensor(HAND_HOME, **f32)
        self.close = torch.tensor(HAND_GRASP, **f32) - self.open
        basis = synergy_basis().to(dev)
        self.others_t = (basis[:, 1:] * p.synergy_scale).T.contiguous()  # (4, 16)
        self.damping_eye = (p.damping**2 * torch.eye(6, **f32)).unsqueeze(0)

    def hand_targets(self, synergies: torch.Tensor) -> torch.Tensor:
        """Finger targets ``(N, 16)`` of synergy coefficients ``(N, 5)``."""
        grasp, others = synergies.split((1, SYNERGY_DIMS - 1), dim=1)
        # a broadcast product and a sum, not a matrix product: BLAS picks kernels by batch size, and
        # environment i must not depend on how many others share its worker
        q = torch.addcmul(self.open, grasp.clamp(0.0, 1.0), self.close) + (others.unsqueeze(-1) * self.others_t).sum(1)
        return torch.clamp(q, self.hand_low, self.hand_high)

    @staticmethod
    def jacobian_t(palm: torch.Tensor, axis: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        """``(N, 7, 6)`` transposed palm-site Jacobian: row j is joint j's ``(linear, angular)`` palm
        velocity per unit joint speed, from the palm position and the joints' world axes and anchors."""
        linear = torch.linalg.cross(axis, palm.unsqueeze(1) - anchor, dim=-1)
        return torch.cat([linear, axis], dim=-1)

    def arm_targets(self, arm_targets: torch.Tensor, palm_actions: torch.Tensor) -> torch.Tensor:
        """New arm targets ``(N, 7)`` moving the palm by ``palm_actions`` ``(N, 6)`` in [-1, 1]."""
        move, turn = palm_actions.split((3, 3), dim=1)
        # linearise where the servos are heading: the palm and the Jacobian at the current targets
        palm_target, axis, anchor = self.sim.arm_frames(arm_targets)
        jt = self.jacobian_t(palm_target, axis, anchor)
        wanted = torch.clamp(palm_target + self.position_scale * move, self.palm_low, self.palm_high)
        dx = torch.cat([wanted - palm_target, self.rotation_scale * turn], dim=-1).unsqueeze(-1)
        distance = torch.minimum(arm_targets - self.arm_low, self.arm_high - arm_targets)
        weight = (distance * (1.0 / self.margin)).clamp(0.05, 1.0)  # joints near a limit move less
        jtw = jt * weight.unsqueeze(-1)  # W J^T
        lhs = torch.baddbmm(self.damping_eye, jt.transpose(1, 2), jtw)  # J W J^T + lambda^2 I
        dq = torch.bmm(jtw, torch.linalg.solve_ex(lhs, dx)[0]).squeeze(-1)
        return torch.clamp(arm_targets + dq, self.arm_low, self.arm_high)

    def targets(self, targets: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """New joint targets ``(N, 23)`` from the previous ones and actions ``(N, 11)`` in [-1, 1]."""
        palm, synergies = actions.split((PALM_DIMS, SYNERGY_DIMS), dim=1)
        arm = self.arm_targets(targets[:, self.sim.arm_qpos], palm)
        return torch.cat([arm, self.hand_targets(synergies)], dim=-1)


def make_action_map(cfg: EnvConfig, sim) -> JointActions | PalmSynergyActions:
    """The action map of ``cfg.action_mode`` on ``sim``."""
    return PalmSynergyActions(cfg, sim) if cfg.action_mode == "palm_synergy" else JointActions(cfg, sim)
