"""Domain randomization: what each resetting world gets, drawn from counter-based random numbers.

A reset draws one block of uniform numbers per world from ``(seed, environment, episode)``
(:func:`reset_draws` names the slots); a step that needs noise draws one block from ``(seed,
environment, episode, step)`` (:data:`STEP_DRAWS`). The functions here turn those numbers into the
object, its physics and the scene's appearance, as per-world model field writes; they know the
config and the simulator's named ids, never the backend.

Friction: the object's geoms have contact priority (:mod:`dexgrasp_env.robot.scene`), so every
contact with the object (fingers, palm, table) uses the object's sampled coefficient. Without the
priority MuJoCo would take the larger of the two geoms' coefficients, and any object friction below
the robot's and the table's 1.0 would change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dexgrasp_env.config import CurriculumConfig, EnvConfig, RandomizationConfig
from dexgrasp_env.robot import objects
from dexgrasp_env.robot.object_sets import SURFACE_POINTS
from dexgrasp_env.robot.scene import SLOT_FIELDS, mesh_slot_table
from dexgrasp_env.rotations import quat_from_rotvec, quat_mul, quat_rotate
from dexgrasp_env.sensors import SENSORS

Blocks = tuple[tuple[str, int], ...]
STEP_DRAWS: Blocks = (("push", 4), ("obs_joint", 23), ("obs_object", 3))
"""Uniform numbers drawn per world and step (when observation noise or pushes are on): pushes before the
physics step, observation noise after it, from the key of ``(seed, environment, episode, step)``."""


def reset_draws(num_actuators: int, num_lights: int) -> Blocks:
    """Uniform numbers a reset draws per world, by purpose."""
    return (("shape", 1), ("size", 1), ("mass", 1), ("friction", 1), ("gain", num_actuators), ("camera", 6),
            ("light", num_lights), ("color", 6), ("spawn", 3), ("goal", 3), ("arm", 7), ("difficulty", 1))
    # (new draws go last: the numbers of a key's slots do not depend on how many are drawn, so the earlier
    # draws of every seed stay what they were)


def split_draws(u: torch.Tensor, blocks: Blocks) -> dict[str, torch.Tensor]:
    """``(N, total)`` uniform numbers as named ``(N, size)`` views."""
    out, start = {}, 0
    for name, size in blocks:
        out[name] = u[:, start : start + size]
        start += size
    return out


Difficulty = float | torch.Tensor
"""The curriculum's difficulty in [0, 1]: one for every world, or ``(N,)``, each world's own
(``CurriculumConfig.spread``)."""


def per_world(difficulty: Difficulty, dims: int) -> Difficulty:
    """``difficulty`` shaped to scale a ``dims``-dimensional ``(N, ...)`` tensor world by world."""
    return difficulty.view(-1, *([1] * (dims - 1))) if isinstance(difficulty, torch.Tensor) else difficulty


def lerp_range(full: tuple[float, float], nominal: float, difficulty: Difficulty) -> tuple:
    """The curriculum's range at ``difficulty`` in [0, 1] between ``nominal`` and ``full``."""
    lo, hi = full
    return nominal + difficulty * (lo - nominal), nominal + difficulty * (hi - nominal)


def _scaled(u: torch.Tensor, full, nominal: float, difficulty: Difficulty) -> torch.Tensor:
    lo, hi = lerp_range(full, nominal, per_world(difficulty, u.dim()))
    return lo + (hi - lo) * u


class Curriculum:
    """The curriculum (the paper's ADR): the difficulty grows by ``step`` whenever the success rate of
    the last ``min_episodes`` finished episodes passes ``threshold``, or, with ``schedule_steps``, linearly
    with the environment steps taken (with ``schedule_gate``, only the steps taken while the last window's
    success fraction was at least the gate). Without a curriculum the difficulty is 1 (the full ranges)."""

    def __init__(self, cfg: CurriculumConfig) -> None:
        self.cfg = cfg
        self.difficulty = cfg.initial_difficulty if cfg.enabled else 1.0
        self.episodes = self.successes = 0
        self.steps = 0
        self.gate_open = cfg.schedule_gate is None

    def set_difficulty(self, value: float) -> None:
        """Jump to ``value`` (a resumed run's); a schedule continues from the step that gives it."""
        self.difficulty = float(value)
        if self.cfg.schedule_steps:
            start = self.cfg.initial_difficulty
            self.steps = round(max(0.0, value - start) / max(1e-9, 1.0 - start) * self.cfg.schedule_steps)

    def _window(self, ended: int, successes: int) -> float | None:
        """Count finished episodes; the success fraction of a completed window of ``min_episodes``, else ``None``."""
        self.episodes += ended
        self.successes += successes
        if self.episodes < self.cfg.min_episodes:
            return None
        fraction = self.successes / self.episodes
        self.episodes = self.successes = 0
        return fraction

    def update(self, ended: int, successes: int, steps: int = 0) -> float:
        """Count ``steps`` environment steps and ``ended`` finished episodes, ``successes`` of them successful;
        returns the difficulty."""
        if not self.cfg.enabled:
            return self.difficulty
        fraction = self._window(ended, successes) if ended else None
        if self.cfg.schedule_steps:
            if self.cfg.schedule_gate is not None and fraction is not None:
                self.gate_open = fraction >= self.cfg.schedule_gate
            if self.gate_open:
                self.steps += steps
            start = self.cfg.initial_difficulty
            self.difficulty = min(1.0, start + (1.0 - start) * self.steps / self.cfg.schedule_steps)
        elif fraction is not None and fraction > self.cfg.threshold:
            self.difficulty = min(1.0, self.difficulty + self.cfg.step)
        return self.difficulty


@dataclass
class ObjectDraw:
    """The objects of the resetting worlds (all ``(N, ...)``).

    ``index``: the object in the set; ``kind`` and ``size``: primitive kind and MuJoCo size triple
    (-1 and zeros for meshes); ``scale``: the size scale (1 for meshes: a mesh's vertices are shared by
    every world, so its size does not vary); ``bottom``/``top``: how far the object reaches below and
    above its origin as it rests; ``mass``, ``friction``.
    """

    index: torch.Tensor
    kind: torch.Tensor
    size: torch.Tensor
    scale: torch.Tensor
    bottom: torch.Tensor
    top: torch.Tensor
    mass: torch.Tensor
    friction: torch.Tensor


class Randomizer:
    """Turns a world's random numbers into its object, physics and appearance.

    Args:
        cfg: The task config (its ``randomization``, ``object_assignment``).
        sim: The simulator (its object set, ids and the fields' compiled defaults).
    """

    def __init__(self, cfg: EnvConfig, sim) -> None:
        self.cfg, self.sim = cfg, sim
        dev = sim.device
        f32 = dict(device=dev, dtype=torch.float32)
        self.objects = obj = sim.objects
        self.count = len(obj)
        # (K, P, 3) surface points, sampled only where the state shows them
        self.points = (torch.as_tensor(obj.points, **f32) if cfg.features == "points" else
                       torch.zeros(self.count, SURFACE_POINTS, 3, **f32))
        if obj.is_mesh:
            m = obj.meshes
            self.shape_kind = torch.full((self.count,), -1, device=dev)
            self.shape_size = torch.zeros(self.count, 3, **f32)
            self.shape_mass = torch.tensor([o.mass for o in m], **f32)
            self.mesh_inertia = torch.as_tensor(np.stack([o.inertia for o in m]), **f32)
            self.mesh_ipos = torch.as_tensor(np.stack([o.ipos for o in m]), **f32)
            self.mesh_iquat = torch.as_tensor(np.stack([o.iquat for o in m]), **f32)
            self.bottom = torch.tensor([o.bottom for o in m], **f32)
            self.top = torch.tensor([o.top for o in m], **f32)
            shapes = sim.field_shapes()
            slots = len(sim.object_geoms)
            self.slots = {f: torch.as_tensor(v, device=dev).view(self.count, slots, *shapes[f][1:])
                          for f, v in mesh_slot_table(obj, sim.mjm).items()}
        else:
            self.shape_kind = torch.tensor([s.kind for s in obj.primitives], device=dev)
            self.shape_size = torch.tensor([s.size for s in obj.primitives], **f32)
            self.shape_mass = torch.tensor([s.mass for s in obj.primitives], **f32)
        self.object_geoms = sim.object_geoms.to(dev)
        self.kinds = torch.arange(len(objects.KINDS), device=dev)
        self.defaults = {k: v.to(dev) for k, v in sim.defaults.items()}
        # every sensor's cameras move together (a stereo pair as one rigid body), each sensor about its own centre
        self.sensor_cameras = [torch.tensor([sim.camera_ids[c] for c in s.keys], device=dev) for s in SENSORS]
        self.nu = sim.mjm.nu
        self.draws = reset_draws(sim.mjm.nu, sim.mjm.nlight)

    @property
    def rc(self) -> RandomizationConfig:
        return self.cfg.randomization

    # ------------------------------------------------------------------------------------------
    def draw_objects(self, u: dict[str, torch.Tensor], env_index: torch.Tensor, difficulty: Difficulty) -> ObjectDraw:
        """Each world's object (by its draw, or ``env_index`` in ``cycle`` assignment), size, mass, friction."""
        rc, count = self.rc, self.count
        if self.cfg.object_assignment == "cycle":
            choice = env_index % count
        else:
            choice = (u["shape"][:, 0] * count).long().clamp_max(count - 1)
        kind, size, mass = self.shape_kind[choice], self.shape_size[choice], self.shape_mass[choice]
        scale = torch.ones_like(mass)
        if rc.object_size_scale is not None and not self.objects.is_mesh:
            scale = _scaled(u["size"][:, 0], rc.object_size_scale, 1.0, difficulty)
            size = size * scale.unsqueeze(1)
        if self.objects.is_mesh:
            bottom, top = self.bottom[choice], self.top[choice]
        else:
            bottom = top = objects.rest_height(kind, size)
        if rc.object_mass_scale is not None:
            mass = mass * _scaled(u["mass"][:, 0], rc.object_mass_scale, 1.0, difficulty)
        friction = (_scaled(u["friction"][:, 0], rc.friction, 1.0, difficulty) if rc.friction is not None
                    else torch.ones_like(mass))
        return ObjectDraw(choice, kind, size, scale, bottom, top, mass, friction)

    def object_fields(self, draw: ObjectDraw) -> list[tuple[str, torch.Tensor, object]]:
        """``(field, value, index)`` writes that give each world its object.

        Primitives: the object body carries one geom per kind; the active one gets the size, the
        others shrink to :data:`~dexgrasp_env.robot.objects.HIDDEN_SIZE` inside it. Meshes: every slot
        takes its mesh id, frame and bounds from :func:`~dexgrasp_env.robot.scene.mesh_slot_table`, the
        body the mesh's mass properties (scaled with the drawn mass).
        """
        sim, d = self.sim, self.defaults
        n = draw.mass.shape[0]
        og, ob = self.object_geoms, sim.object_body
        if self.objects.is_mesh:
            k = draw.index
            inertia = self.mesh_inertia[k] * (draw.mass / self.shape_mass[k]).unsqueeze(1)
            out = [(f, self.slots[f][k], og) for f in SLOT_FIELDS]
            out += [("body_ipos", self.mesh_ipos[k], ob), ("body_iquat", self.mesh_iquat[k], ob)]
        else:
            active = draw.kind.unsqueeze(1) == self.kinds  # (N, kinds)
            hidden = torch.full_like(draw.size, objects.HIDDEN_SIZE).unsqueeze(1)
            geom_size = torch.where(active.unsqueeze(-1), draw.size.unsqueeze(1), hidden)
            flat_kind, flat_size = self.kinds.repeat(n), geom_size.reshape(-1, 3)
            half = objects.half_extents(flat_kind, flat_size).view(n, -1, 3)
            aabb = torch.stack([torch.zeros_like(half), half], dim=2)
            rbound = objects.bounding_radius(flat_kind, flat_size).view(n, -1)
            inertia = objects.inertia(draw.kind, draw.size, draw.mass)
            out = [("geom_size", geom_size, og), ("geom_aabb", aabb, og), ("geom_rbound", rbound, og)]
        friction = d["geom_friction"][og].expand(n, -1, -1).clone()
        friction[..., 0] = draw.friction.unsqueeze(1)
        # the subtree masses place each tree's centre of mass, the reference point of the
        # spatial dynamics: stale values here break the solve at speed
        subtree = d["body_subtreemass"].expand(n, -1).clone()
        subtree[:, ob] = draw.mass
        subtree[:, 0] += draw.mass - d["body_subtreemass"][ob]
        inv = torch.stack([1.0 / draw.mass, (1.0 / inertia).mean(-1)], dim=-1)  # as mj_setConst computes them
        return out + [("geom_friction", friction, og), ("body_mass", draw.mass, ob),
                      ("body_subtreemass", subtree, None), ("body_inertia", inertia, ob),
                      ("body_invweight0", inv, ob),
                      ("dof_invweight0", inv.repeat_interleave(3, dim=1), sim.object_qvel)]

    def appearance_fields(self, u: dict[str, torch.Tensor],
                          difficulty: Difficulty) -> list[tuple[str, torch.Tensor, object]]:
        """``(field, value, index)`` writes of servo gains, camera extrinsics, lights and colours."""
        rc, d = self.rc, self.defaults
        n = u["gain"].shape[0]
        dev = u["gain"].device
        out = []
        if rc.actuator_gain_scale is not None:
            g = _scaled(u["gain"], rc.actuator_gain_scale, 1.0, difficulty)
            gain = d["actuator_gainprm"] * torch.cat([g.unsqueeze(-1), torch.ones(n, self.nu, 9, device=dev)], -1)
            bias = d["actuator_biasprm"] * g.unsqueeze(-1)
            out += [("actuator_gainprm", gain, None), ("actuator_biasprm", bias, None)]
        if rc.camera_position_noise is not None or rc.camera_rotation_noise_deg is not None:
            c = 2.0 * u["camera"] - 1.0
            level = per_world(difficulty, 2)
            pos_noise = (rc.camera_position_noise or 0.0) * level * c[:, :3]
            rot_noise = math.radians(rc.camera_rotation_noise_deg or 0.0) * level * c[:, 3:]
            dq = quat_from_rotvec(rot_noise).unsqueeze(1)  # (N, 1, 4): one rigid motion of each sensor
            for cams in self.sensor_cameras:
                base_pos, base_quat = d["cam_pos"][cams], d["cam_quat"][cams]  # (C, 3), (C, 4)
                centre = base_pos.mean(0)
                rotated = quat_rotate(dq, (base_pos - centre).expand(n, -1, -1))
                out += [("cam_pos", centre + rotated + pos_noise.unsqueeze(1), cams),
                        ("cam_quat", quat_mul(dq, base_quat.unsqueeze(0)), cams)]
        if rc.light_scale is not None:
            s = _scaled(u["light"], rc.light_scale, 1.0, difficulty)
            out.append(("light_diffuse", (d["light_diffuse"] * s.unsqueeze(-1)).clamp(0, 1), None))
        if rc.color_noise is not None:
            c = (2.0 * u["color"] - 1.0) * rc.color_noise * per_world(difficulty, 2)
            rgba = d["geom_rgba"].expand(n, -1, -1).clone()
            og, table = self.object_geoms, self.sim.table_geom
            rgba[:, og, :3] = (rgba[:, og, :3] + c[:, None, :3]).clamp(0, 1)
            rgba[:, table, :3] = (rgba[:, table, :3] + c[:, 3:]).clamp(0, 1)
            out.append(("geom_rgba", rgba, None))
        return out
