"""Inverse kinematics of the arm for a palm pose (damped least squares on the C model).

Used by the scripted grasp and to find the home pose; not on any environment's hot path.
"""

from __future__ import annotations

import mujoco
import numpy as np


def rotation_error(current: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking ``current`` to ``desired`` (3x3 matrices)."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, (desired @ current.T).reshape(-1))
    vel = np.zeros(3)
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel


def palm_ik(model: mujoco.MjModel, data: mujoco.MjData, site: int, position: np.ndarray, rotation: np.ndarray,
            q_arm: np.ndarray, iterations: int = 200, tolerance: float = 1e-4) -> tuple[np.ndarray, float]:
    """Arm joint angles placing ``site`` at ``position`` with orientation ``rotation``.

    Args:
        model, data: The C model and a scratch ``MjData`` (its ``qpos[7:]`` is left as given).
        site: The site to place (the palm).
        position: Target position (3,). rotation: target orientation (3, 3).
        q_arm: Initial guess for the 7 arm joints.
        iterations: Maximum damped-least-squares steps (each at most 0.2 rad).
        tolerance: Stop when position (m) and orientation (rad) errors are both below it.

    Returns:
        The joint angles (clipped to the joint ranges) and the final combined error.
    """
    low, high = model.jnt_range[:7, 0], model.jnt_range[:7, 1]
    q = np.array(q_arm, dtype=float)
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    err = np.inf
    for _ in range(iterations):
        data.qpos[:7] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        e_pos = position - data.site_xpos[site]
        e_rot = rotation_error(data.site_xmat[site].reshape(3, 3), rotation)
        err = float(np.linalg.norm(e_pos) + np.linalg.norm(e_rot))
        if np.linalg.norm(e_pos) < tolerance and np.linalg.norm(e_rot) < tolerance:
            break
        mujoco.mj_jacSite(model, data, jacp, jacr, site)
        jac = np.vstack([jacp[:, :7], jacr[:, :7]])
        e = np.concatenate([e_pos, 0.5 * e_rot])
        dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), e)
        dq *= min(1.0, 0.2 / max(np.linalg.norm(dq), 1e-9))
        q = np.clip(q + dq, low + 0.01, high - 0.01)
    return q, err
