"""A scripted top-down grasp: a sanity check that contacts, servo gains and friction allow lifting.

Open hand above the object, palm down; descend; close; lift; hold. The arm targets come from
inverse kinematics on the C model (host side, once per phase and environment), and reach the
environment through its ordinary action interface (relative joint targets), so the check runs
the same physics a policy would.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from dexgrasp_env.robot.ik import palm_ik
from dexgrasp_env.robot.scene import ARM_HOME, HAND_GRASP, HAND_HOME
from dexgrasp_env.task import GraspTask

HAND_OPEN = np.array(HAND_HOME)
HAND_CLOSED = np.array(HAND_GRASP)
#: (name, duration in seconds) of each phase.
PHASES = (("approach", 1.0), ("descend", 1.0), ("close", 1.0), ("lift", 1.5), ("hold", 2.5))


def _palm_down() -> np.ndarray:
    """Palm frame of the grasp: palm normal (x) down, fingers (z) along +y."""
    rot = np.zeros((3, 3))
    rot[:, 0] = (0.0, 0.0, -1.0)  # palm normal
    rot[:, 2] = (0.0, 1.0, 0.0)  # finger direction
    rot[:, 1] = np.cross(rot[:, 2], rot[:, 0])
    return rot


class ScriptedGrasp:
    """Actions of the scripted grasp for every environment of a :class:`GraspTask`.

    Args:
        task: The task (any number of environments).
        along: Where the object sits along the fingers, from the palm site (m).
        gap: Height of the palm above the object's top at the grasp (m).
        lift: How far the hand rises after closing (m).
    """

    def __init__(self, task: GraspTask, along: float = 0.07, gap: float = -0.01, lift: float = 0.2) -> None:
        self.task, self.along, self.gap, self.lift = task, along, gap, lift
        self.model = task.sim.mjm
        self.data = mujoco.MjData(self.model)
        self.rotation = _palm_down()
        self.starts = np.cumsum([0.0] + [d for _, d in PHASES])
        self.waypoints: np.ndarray | None = None

    @property
    def duration(self) -> float:
        """Length of the whole script (s)."""
        return float(self.starts[-1])

    def plan(self) -> None:
        """Compute each environment's arm waypoints from where its object is now (call after reset)."""
        task = self.task
        obj = task.sim.object_pos.cpu().numpy().astype(float)
        half = task.object_top.cpu().numpy()
        start = task.targets[:, :7].cpu().numpy().astype(float)
        plans = []
        for i in range(task.num_envs):
            grasp = obj[i] + np.array([0.0, -self.along, half[i] + self.gap])
            points = [grasp + [0, 0, 0.12], grasp, grasp, grasp + [0, 0, self.lift], grasp + [0, 0, self.lift]]
            q = np.array(ARM_HOME)
            arm = [start[i]]
            for p in points:
                q, _ = palm_ik(self.model, self.data, task.sim.palm_site, p, self.rotation, q)
                arm.append(q)
            plans.append(arm)
        self.waypoints = np.array(plans)  # (N, 1 + phases, 7)

    def desired(self, t: float) -> np.ndarray:
        """Joint targets ``(N, 23)`` at time ``t`` (s) since the plan started."""
        k = int(np.searchsorted(self.starts, t, side="right") - 1)
        k = min(k, len(PHASES) - 1)
        frac = min(1.0, (t - self.starts[k]) / (0.7 * PHASES[k][1]))
        arm = self.waypoints[:, k] + (self.waypoints[:, k + 1] - self.waypoints[:, k]) * frac
        name = PHASES[k][0]
        closing = {"approach": 0.0, "descend": 0.0, "close": frac}.get(name, 1.0)
        hand = HAND_OPEN + (HAND_CLOSED - HAND_OPEN) * closing
        return np.concatenate([arm, np.broadcast_to(hand, (arm.shape[0], 16))], axis=1)

    def actions(self, t: float) -> torch.Tensor:
        """The actions that move each environment's joint targets towards :meth:`desired`."""
        task = self.task
        desired = torch.as_tensor(self.desired(t), dtype=torch.float32, device=task.device)
        return ((desired - task.targets) / task.cfg.action_scale).clamp(-1.0, 1.0)


def run_scripted_grasp(task: GraspTask, seed: int = 0, hold_height: float = 0.1) -> dict[str, np.ndarray]:
    """Run the script once in every environment of ``task``.

    Returns:
        ``lifted``: (N,) bool, the object stayed at least ``hold_height`` above its start for
        the whole hold phase; ``min_rise``: (N,) the lowest rise during the hold (m); ``object``
        (its index in the set), ``kind`` and ``size`` (primitives) of each object.
    """
    if task.cfg.action_mode != "joint":
        raise ValueError(f"the scripted grasp drives joint targets: it needs action_mode='joint', got "
                         f"{task.cfg.action_mode!r}")
    task.reset(seed=seed)
    script = ScriptedGrasp(task)
    script.plan()
    z0 = task.sim.object_pos[:, 2].clone()
    hold_start = script.starts[-2]
    dt = task.cfg.control_dt
    steps = int(round(script.duration / dt))
    min_rise = torch.full_like(z0, np.inf)
    for k in range(steps):
        t = k * dt
        task.step(script.actions(t))
        if t >= hold_start:
            min_rise = torch.minimum(min_rise, task.sim.object_pos[:, 2] - z0)
    rise = min_rise.cpu().numpy()
    return {"lifted": rise >= hold_height, "min_rise": rise, "object": task.sim.object_index.cpu().numpy(),
            "kind": task.object_kind.cpu().numpy(),
            "size": task.object_size.cpu().numpy()}
