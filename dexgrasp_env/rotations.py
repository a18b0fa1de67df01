"""Batched quaternion and rotation helpers (torch; quaternions are ``(w, x, y, z)``, MuJoCo's order)."""

from __future__ import annotations

import torch


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The Hamilton product ``a * b`` (rotate by ``b``, then by ``a``)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
         aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], dim=-1)


def quat_conj(q: torch.Tensor) -> torch.Tensor:
    """The conjugate (the inverse of a unit quaternion)."""
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``v`` rotated by the unit quaternion ``q`` (``R(q) @ v``), broadcasting over leading dims."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * torch.linalg.cross(u.expand_as(v), v, dim=-1)
    return v + w * t + torch.linalg.cross(u.expand_as(t), t, dim=-1)


def quat_from_axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """The rotation by ``angle`` (``(...,)``) about the unit ``axis`` (``(..., 3)``)."""
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat([torch.cos(half), axis * torch.sin(half)], dim=-1)


def quat_from_rotvec(v: torch.Tensor) -> torch.Tensor:
    """The rotation whose axis is ``v``'s direction and whose angle is ``|v|``."""
    angle = torch.linalg.vector_norm(v, dim=-1)
    axis = v / angle.clamp_min(1e-12).unsqueeze(-1)
    return quat_from_axis_angle(axis, angle)


def rotvec_from_quat(q: torch.Tensor) -> torch.Tensor:
    """The rotation vector (axis times angle in ``[0, pi]``) of a unit quaternion."""
    q = canonical_quat(q)
    s = torch.linalg.vector_norm(q[..., 1:], dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, q[..., :1])
    return q[..., 1:] * torch.where(s > 1e-12, angle / s.clamp_min(1e-12), torch.full_like(s, 2.0))


def canonical_quat(q: torch.Tensor) -> torch.Tensor:
    """The quaternion with non-negative w (q and -q are the same rotation; w = -0.0 flips too)."""
    return q * torch.copysign(q.new_ones(()), q[..., :1])
