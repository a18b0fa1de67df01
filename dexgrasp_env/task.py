"""The grasp-and-lift task on a batch of worlds: resets, observations, rewards, episodes.

:class:`GraspTask` runs ``num_envs`` environments on one device (one shard of a vector env).
Everything stays a torch tensor on that device and no step synchronises with the host, except
the optional action check and the second render that SAME_STEP autoreset needs when an episode
ended. The reward terms, success and termination are small pure functions of batched tensors.

Autoreset follows Gymnasium 1.x:

* ``next_step``: an environment that ended is reset by the *next* ``step`` call, which ignores
  its action and returns its first observation with zero reward.
* ``same_step``: it is reset in the same call; its last observation is in ``info["final_obs"]``.
* ``disabled``: it is reset only by ``reset(options={"reset_mask": mask})``.

A world whose physics diverges (non-finite or exploding state) is reset at once in every mode,
reported as truncated with zero reward, and counted in ``info["diverged"]``; its broken state is
never observed.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from dexgrasp_env import rng
from dexgrasp_env.config import AUTORESET_MODES, EnvConfig, RandomizationConfig, RewardConfig
from dexgrasp_env.robot import objects
from dexgrasp_env.robot.scene import ARM_HOME, CAMERAS, HAND_CURLED, HAND_HOME
from dexgrasp_env.sim import BatchedSim

NUM_ACTIONS = 23
STATE_LAYOUT: tuple[tuple[str, int], ...] = (
    ("joint_pos", 23), ("joint_vel", 23), ("palm_pos", 3), ("palm_quat", 4), ("fingertip_pos", 12),
    ("object_pos", 3), ("object_quat", 4), ("object_linvel", 3), ("object_angvel", 3), ("goal", 3),
    ("object_to_goal", 3), ("last_action", 23), ("object_kind", 4), ("object_size", 3), ("object_mass", 1),
    ("object_friction", 1),
)
"""Blocks of the privileged ``state`` vector, in order."""
PROPRIO_LAYOUT: tuple[tuple[str, int], ...] = (
    ("joint_pos", 23), ("joint_vel", 23), ("palm_pos", 3), ("palm_quat", 4), ("fingertip_pos", 12), ("goal", 3),
    ("last_action", 23),
)
"""Blocks of the ``proprio`` vector, in order."""


def layout_slices(layout: tuple[tuple[str, int], ...]) -> dict[str, slice]:
    """Where each named block sits in a flat observation vector."""
    out, start = {}, 0
    for name, size in layout:
        out[name] = slice(start, start + size)
        start += size
    return out


STATE_SLICES = layout_slices(STATE_LAYOUT)
"""``obs["state"][:, STATE_SLICES["object_pos"]]`` etc."""
PROPRIO_SLICES = layout_slices(PROPRIO_LAYOUT)
STATE_DIM = sum(n for _, n in STATE_LAYOUT)
PROPRIO_DIM = sum(n for _, n in PROPRIO_LAYOUT)
DIVERGENCE_LIMITS = (200.0, 20.0, 400.0)
"""A world diverged when its state is not finite or when a robot joint turns faster than 200 rad/s,
the object moves faster than 20 m/s or spins faster than 400 rad/s: speeds no real grasp reaches,
which only a failed contact solve produces (and which a policy must not be able to exploit)."""
_STREAMS = ("shape", "size", "mass", "friction", "gain", "camera", "light", "color", "spawn", "goal", "arm", "hand",
            "obs_joint", "obs_object", "push", "depth_noise", "depth_dropout")


# --------------------------------------------------------------------------------------------
# Spaces
# --------------------------------------------------------------------------------------------
def key_spaces(cfg: EnvConfig) -> dict[str, gym.spaces.Box]:
    """The space of each observation key of one environment."""
    h, w = cfg.camera.height, cfg.camera.width
    inf = np.float32(np.inf)
    spaces = {
        "state": gym.spaces.Box(-inf, inf, (STATE_DIM,), np.float32),
        "proprio": gym.spaces.Box(-inf, inf, (PROPRIO_DIM,), np.float32),
        "depth": gym.spaces.Box(0.0, np.float32(cfg.camera.depth_range[1]), (1, h, w), np.float32),
        "left": gym.spaces.Box(0, 255, (3, h, w), np.uint8),
        "right": gym.spaces.Box(0, 255, (3, h, w), np.uint8),
    }
    return {k: spaces[k] for k in cfg.obs_keys()}


def observation_space(cfg: EnvConfig) -> gym.Space:
    """One environment's observation space: a flat Box for the plain state env, else a Dict."""
    spaces = key_spaces(cfg)
    return spaces["state"] if is_flat(cfg) else gym.spaces.Dict(spaces)


def action_space() -> gym.spaces.Box:
    """23 relative joint-position targets in ``[-1, 1]``."""
    return gym.spaces.Box(-1.0, 1.0, (NUM_ACTIONS,), np.float32)


def is_flat(cfg: EnvConfig) -> bool:
    """Whether observations are one flat vector (state env without extra keys) rather than a dict."""
    return cfg.obs_keys() == ("state",)


def check_actions(actions, num_envs: int | None, device: torch.device | None = None) -> None:
    """Raise ``ValueError`` unless ``actions`` is a finite float array of shape ``(num_envs, 23)``.

    Args:
        actions: A torch tensor or numpy array.
        num_envs: Expected batch size, or ``None`` for a single environment (shape ``(23,)``).
        device: Expected device of a torch tensor.
    """
    shape = (NUM_ACTIONS,) if num_envs is None else (num_envs, NUM_ACTIONS)
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


# --------------------------------------------------------------------------------------------
# Reward, success, termination: pure batched functions
# --------------------------------------------------------------------------------------------
def reward_terms(
    fingertip_pos: torch.Tensor,
    object_pos: torch.Tensor,
    goal: torch.Tensor,
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
        hand_q: ``(N, 16)`` finger joint angles.
        curled_q: ``(16,)`` the curled hand pose of the regulariser.
        action, prev_action: ``(N, 23)`` this and the previous action.
        in_success: ``(N,)`` bool, object inside the success region.
        cfg: shapes of the terms.
    """
    tip_dist = (fingertip_pos - object_pos.unsqueeze(1)).norm(dim=-1).amax(dim=1)
    goal_dist = (object_pos - goal).norm(dim=-1)
    return {
        "fingertip_to_object": torch.exp(-cfg.fingertip_sharpness * tip_dist),
        "object_to_goal": torch.exp(-cfg.goal_sharpness * goal_dist),
        "lift": torch.exp(-cfg.lift_sharpness * (goal[:, 2] - object_pos[:, 2]).abs()),
        "finger_curl": (hand_q - curled_q).square().sum(-1),
        "action": action.square().sum(-1),
        "action_rate": (action - prev_action).square().sum(-1),
        "success": in_success.float(),
    }


def in_success_region(object_pos: torch.Tensor, goal: torch.Tensor, threshold: float) -> torch.Tensor:
    """``(N,)`` bool: the object is within ``threshold`` metres of the goal."""
    return (object_pos - goal).norm(dim=-1) < threshold


def object_lost(object_pos: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the object left the workspace box (or fell below the table)."""
    return ((object_pos < low) | (object_pos > high)).any(dim=-1)


def has_diverged(qpos: torch.Tensor, qvel: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the world's state is not finite or moves impossibly fast (:data:`DIVERGENCE_LIMITS`)."""
    robot, linear, angular = DIVERGENCE_LIMITS
    finite = torch.isfinite(qpos).all(1) & torch.isfinite(qvel).all(1)
    v = qvel.nan_to_num(nan=0.0, posinf=torch.inf, neginf=torch.inf).abs()
    fast = (v[:, :23].amax(1) > robot) | (v[:, 23:26].amax(1) > linear) | (v[:, 26:29].amax(1) > angular)
    return ~finite | fast


def lerp_range(full: tuple[float, float], nominal: float, difficulty: float) -> tuple[float, float]:
    """The curriculum's range at ``difficulty`` in [0, 1] between ``nominal`` and ``full``."""
    lo, hi = full
    return nominal + difficulty * (lo - nominal), nominal + difficulty * (hi - nominal)


# --------------------------------------------------------------------------------------------
# Quaternion helpers (w, x, y, z)
# --------------------------------------------------------------------------------------------
def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
         aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], dim=-1)


def quat_from_axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat([torch.cos(half), axis * torch.sin(half)], dim=-1)


def quat_from_rotvec(v: torch.Tensor) -> torch.Tensor:
    angle = v.norm(dim=-1)
    axis = v / angle.clamp_min(1e-12).unsqueeze(-1)
    return quat_from_axis_angle(axis, angle)


def canonical_quat(q: torch.Tensor) -> torch.Tensor:
    """The quaternion with non-negative w (q and -q are the same rotation)."""
    return torch.where(q[..., :1] < 0, -q, q)


# --------------------------------------------------------------------------------------------
class GraspTask:
    """``num_envs`` grasp-and-lift environments on one device.

    Args:
        cfg: The task config.
        num_envs: Number of environments (worlds).
        device: Simulation device (``"cpu"`` or ``"cuda:<k>"``).
        env_offset: Global index of the first environment; random numbers depend on the global
            index, so a split of the environments across workers changes nothing.
        autoreset_mode: ``"next_step"``, ``"same_step"`` or ``"disabled"``.
    """

    def __init__(self, cfg: EnvConfig, num_envs: int, device: str | torch.device = "cpu", *, env_offset: int = 0,
                 autoreset_mode: str = "next_step") -> None:
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode={autoreset_mode!r} is unknown; expected one of {AUTORESET_MODES}")
        self.cfg = cfg
        self.autoreset_mode = autoreset_mode
        self.sim = BatchedSim(cfg, num_envs, device, cameras=cfg.cameras_needed())
        self.num_envs = n = self.sim.num_worlds
        self.device = dev = self.sim.device
        self.obs_keys = cfg.obs_keys()
        self.difficulty = 1.0 if not cfg.randomization.curriculum.enabled else cfg.randomization.curriculum.initial_difficulty
        f32 = dict(device=dev, dtype=torch.float32)
        self.env_index = torch.arange(env_offset, env_offset + n, device=dev, dtype=torch.int64)
        self.seed = 0
        self.episode = torch.zeros(n, device=dev, dtype=torch.int64)
        self.step_count = torch.zeros(n, device=dev, dtype=torch.int64)
        self.needs_reset = torch.zeros(n, device=dev, dtype=torch.bool)
        self.targets = torch.zeros(n, NUM_ACTIONS, **f32)
        self.last_action = torch.zeros(n, NUM_ACTIONS, **f32)
        self.prev_action = torch.zeros(n, NUM_ACTIONS, **f32)
        self.goal = torch.zeros(n, 3, **f32)
        self.object_kind = torch.zeros(n, dtype=torch.int64, device=dev)
        self.object_size = torch.zeros(n, 3, **f32)
        self.object_mass = torch.zeros(n, **f32)
        self.object_friction = torch.ones(n, **f32)
        self.episode_return = torch.zeros(n, **f32)
        self.joint_low = self.sim.joint_range[:, 0].to(dev)
        self.joint_high = self.sim.joint_range[:, 1].to(dev)
        self.curled = torch.tensor(HAND_CURLED, **f32)
        self.home = torch.tensor(ARM_HOME + HAND_HOME, **f32)
        self.workspace_low = torch.tensor(cfg.workspace_low, **f32)
        self.workspace_high = torch.tensor(cfg.workspace_high, **f32)
        shapes = objects.select_shapes(cfg.shapes)
        self.shape_kind = torch.tensor([s.kind for s in shapes], device=dev)
        self.shape_size = torch.tensor([s.size for s in shapes], **f32)
        self.shape_mass = torch.tensor([s.mass for s in shapes], **f32)
        self.object_geoms = self.sim.object_geoms.to(dev)
        self.fingertip_sites = self.sim.fingertip_sites.to(dev)
        self.robot_geoms = self.sim.robot_geoms.to(dev)
        self.rig_cameras = torch.tensor([self.sim.camera_ids[c] for c in CAMERAS if c != "overview"], device=dev)
        self._stream_id = {name: i for i, name in enumerate(_STREAMS)}
        # the last observation, kept so that a NEXT_STEP reset is observed correctly
        self._obs: dict[str, torch.Tensor] | None = None

    # ----------------------------------------------------------------------------------------
    # random numbers
    # ----------------------------------------------------------------------------------------
    def _key(self, stream: str, per_step: bool) -> torch.Tensor:
        step = self.step_count if per_step else -1
        return rng.hash_keys(self.seed, self.env_index, self.episode, step, self._stream_id[stream])

    def _uniform(self, stream: str, n: int, low=0.0, high=1.0, per_step: bool = False) -> torch.Tensor:
        return low + (high - low) * rng.uniform(self._key(stream, per_step), n)

    def _range(self, full, nominal: float) -> tuple[float, float]:
        return lerp_range(full, nominal, self.difficulty)

    # ----------------------------------------------------------------------------------------
    # resets
    # ----------------------------------------------------------------------------------------
    def seed_all(self, seed: int) -> None:
        """Restart every environment's random stream from ``seed``."""
        self.seed = int(seed)
        self.episode.zero_()

    def _write(self, name: str, mask: torch.Tensor, new: torch.Tensor, index=None) -> None:
        """Set rows ``mask`` of a per-world model field (optionally only entries ``index``)."""
        field = self.sim.fields[name]
        target = field if index is None else field[:, index]
        m = mask.view(-1, *([1] * (target.dim() - 1)))
        value = torch.where(m, new.to(target.dtype), target)
        if index is None:
            field.copy_(value)
        else:
            field[:, index] = value

    def _sample_object(self, mask: torch.Tensor) -> torch.Tensor:
        """Draw each resetting world's object (shape, size, mass, friction); returns rest heights."""
        rcfg: RandomizationConfig = self.cfg.randomization
        n = self.num_envs
        count = len(self.shape_kind)
        if self.cfg.object_assignment == "cycle":
            choice = self.env_index % count
        else:
            choice = (self._uniform("shape", 1)[:, 0] * count).long().clamp_max(count - 1)
        kind = self.shape_kind[choice]
        size = self.shape_size[choice]
        mass = self.shape_mass[choice]
        if rcfg.object_size_scale is not None:
            size = size * self._uniform("size", 1, *self._range(rcfg.object_size_scale, 1.0))
        if rcfg.object_mass_scale is not None:
            mass = mass * self._uniform("mass", 1, *self._range(rcfg.object_mass_scale, 1.0))[:, 0]
        friction = torch.ones(n, device=self.device)
        if rcfg.friction is not None:
            friction = self._uniform("friction", 1, *self._range(rcfg.friction, 1.0))[:, 0]
        self.object_kind = torch.where(mask, kind, self.object_kind)
        self.object_size = torch.where(mask[:, None], size, self.object_size)
        self.object_mass = torch.where(mask, mass, self.object_mass)
        self.object_friction = torch.where(mask, friction, self.object_friction)

        # the object body carries one geom per kind; the active one gets the size, the rest hide
        kinds = torch.arange(len(objects.KINDS), device=self.device)
        active = kind.unsqueeze(1) == kinds  # (N, 4)
        geom_size = torch.where(active.unsqueeze(-1), size.unsqueeze(1), torch.full_like(size, objects.HIDDEN_SIZE)
                                .unsqueeze(1))
        flat_kind = kinds.repeat(n)
        flat_size = geom_size.reshape(-1, 3)
        half = objects.half_extents(flat_kind, flat_size).view(n, -1, 3)
        aabb = torch.stack([torch.zeros_like(half), half], dim=2)
        rbound = objects.bounding_radius(flat_kind, flat_size).view(n, -1)
        inertia = objects.inertia(kind, size, mass)
        og, ob = self.object_geoms, self.sim.object_body
        self._write("geom_size", mask, geom_size, og)
        self._write("geom_aabb", mask, aabb, og)
        self._write("geom_rbound", mask, rbound, og)
        fr = self.sim.defaults["geom_friction"][og].expand(n, -1, -1).clone()
        fr[..., 0] = friction.unsqueeze(1)
        self._write("geom_friction", mask, fr, og)
        self._write("body_mass", mask, mass, ob)
        # the subtree masses place each tree's centre of mass, the reference point of the
        # spatial dynamics: stale values here break the solve at speed
        subtree = self.sim.defaults["body_subtreemass"].expand(n, -1).clone()
        subtree[:, ob] = mass
        subtree[:, 0] += mass - self.sim.defaults["body_subtreemass"][ob]
        self._write("body_subtreemass", mask, subtree)
        self._write("body_inertia", mask, inertia, ob)
        inv = torch.stack([1.0 / mass, (1.0 / inertia).mean(-1)], dim=-1)  # as mj_setConst computes them
        self._write("body_invweight0", mask, inv, ob)
        self._write("dof_invweight0", mask, inv.repeat_interleave(3, dim=1), self.sim.object_qvel)
        return objects.rest_height(kind, size)

    def _sample_appearance(self, mask: torch.Tensor) -> None:
        """Servo gains, camera extrinsics, lights and colours of the resetting worlds."""
        rcfg = self.cfg.randomization
        n, d = self.num_envs, self.sim.defaults
        if rcfg.actuator_gain_scale is not None:
            g = self._uniform("gain", NUM_ACTIONS, *self._range(rcfg.actuator_gain_scale, 1.0))
            self._write("actuator_gainprm", mask, d["actuator_gainprm"] * torch.cat(
                [g.unsqueeze(-1), torch.ones(n, NUM_ACTIONS, 9, device=self.device)], -1))
            self._write("actuator_biasprm", mask, d["actuator_biasprm"] * g.unsqueeze(-1))
        if rcfg.camera_position_noise is not None or rcfg.camera_rotation_noise_deg is not None:
            u = self._uniform("camera", 6, -1.0, 1.0)
            pos_noise = (rcfg.camera_position_noise or 0.0) * self.difficulty * u[:, :3]
            rot_noise = math.radians(rcfg.camera_rotation_noise_deg or 0.0) * self.difficulty * u[:, 3:]
            cams = self.rig_cameras
            base_pos, base_quat = d["cam_pos"][cams], d["cam_quat"][cams]  # (C, 3), (C, 4)
            centre = base_pos.mean(0)
            dq = quat_from_rotvec(rot_noise)  # (N, 4): one rigid motion of the whole rig about its centre
            rel = base_pos - centre
            rel_q = torch.cat([torch.zeros(len(cams), 1, device=self.device), rel], -1)
            rotated = quat_mul(quat_mul(dq.unsqueeze(1), rel_q.unsqueeze(0)),
                               dq.unsqueeze(1) * torch.tensor([1.0, -1, -1, -1], device=self.device))[..., 1:]
            self._write("cam_pos", mask, centre + rotated + pos_noise.unsqueeze(1), cams)
            self._write("cam_quat", mask, quat_mul(dq.unsqueeze(1), base_quat.unsqueeze(0)), cams)
        if rcfg.light_scale is not None:
            s = self._uniform("light", d["light_diffuse"].shape[0], *self._range(rcfg.light_scale, 1.0))
            self._write("light_diffuse", mask, (d["light_diffuse"] * s.unsqueeze(-1)).clamp(0, 1))
        if rcfg.color_noise is not None:
            c = self._uniform("color", 6, -1.0, 1.0) * rcfg.color_noise * self.difficulty
            rgba = d["geom_rgba"].expand(n, -1, -1).clone()
            og, table = self.object_geoms, self.sim.table_geom
            rgba[:, og, :3] = (rgba[:, og, :3] + c[:, None, :3]).clamp(0, 1)
            rgba[:, table, :3] = (rgba[:, table, :3] + c[:, 3:]).clamp(0, 1)
            self._write("geom_rgba", mask, rgba)

    def _reset(self, mask: torch.Tensor) -> None:
        """Start a new episode in the worlds of ``mask`` (``(N,)`` bool); others are untouched."""
        cfg = self.cfg
        n, dev = self.num_envs, self.device
        self.episode += mask.long()
        rest = self._sample_object(mask)
        self._sample_appearance(mask)
        # robot start: home pose with noise on the arm
        noise = self._uniform("arm", 7, -cfg.arm_start_noise, cfg.arm_start_noise)
        q = self.home.expand(n, -1).clone()
        q[:, :7] += noise
        q = torch.maximum(torch.minimum(q, self.joint_high), self.joint_low)
        # object on the table: random position and yaw; capsules lie on their side
        spawn = self._uniform("spawn", 3)
        lo, hi = torch.tensor(cfg.object_spawn_low, device=dev), torch.tensor(cfg.object_spawn_high, device=dev)
        xy = lo + (hi - lo) * spawn[:, :2]
        pos = torch.cat([xy, (rest + 0.002).unsqueeze(1)], -1)
        z_axis = torch.tensor([0.0, 0.0, 1.0], device=dev).expand(n, 3)
        yaw = quat_from_axis_angle(z_axis, (2 * spawn[:, 2] - 1) * math.pi)
        lie = torch.tensor([math.sqrt(0.5), math.sqrt(0.5), 0.0, 0.0], device=dev)
        upright = torch.tensor([1.0, 0.0, 0.0, 0.0], device=dev)
        tilt = torch.where((self.object_kind == objects.CAPSULE).unsqueeze(1), lie, upright)
        quat = quat_mul(yaw, tilt)
        glo, ghi = torch.tensor(cfg.goal_low, device=dev), torch.tensor(cfg.goal_high, device=dev)
        goal = glo + (ghi - glo) * self._uniform("goal", 3)

        m1 = mask.unsqueeze(1)
        sim = self.sim
        qpos = torch.cat([q, pos, quat], dim=1)
        sim.qpos.copy_(torch.where(m1, qpos, sim.qpos))
        sim.qvel.copy_(torch.where(m1, torch.zeros_like(sim.qvel), sim.qvel))
        sim.ctrl.copy_(torch.where(m1, q, sim.ctrl))
        sim.xfrc_applied.copy_(torch.where(m1.unsqueeze(-1), torch.zeros_like(sim.xfrc_applied), sim.xfrc_applied))
        sim.mocap_pos[:, 0].copy_(torch.where(m1, goal, sim.mocap_pos[:, 0]))
        sim.qacc_warmstart.copy_(torch.where(m1, torch.zeros_like(sim.qacc_warmstart), sim.qacc_warmstart))
        sim.time.copy_(torch.where(mask, torch.zeros_like(sim.time), sim.time))
        self.targets = torch.where(m1, q, self.targets)
        self.goal = torch.where(m1, goal, self.goal)
        zero = torch.zeros_like(self.last_action)
        self.last_action = torch.where(m1, zero, self.last_action)
        self.prev_action = torch.where(m1, zero, self.prev_action)
        self.step_count = torch.where(mask, torch.zeros_like(self.step_count), self.step_count)
        self.episode_return = torch.where(mask, torch.zeros_like(self.episode_return), self.episode_return)
        self.needs_reset = self.needs_reset & ~mask

    def reset(self, seed: int | None = None, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Reset the environments in ``mask`` (all when ``None``) and return the observation.

        Args:
            seed: Restart every environment's random stream from this seed (Gymnasium's
                ``reset(seed=...)``): environment ``i`` then depends only on ``(seed, i)``.
            mask: ``(N,)`` bool of environments to reset.
        """
        if seed is not None:
            self.seed_all(seed)
        if mask is None:
            mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._reset(mask)
        self.sim.forward()
        self._obs = self._observe()
        return self._obs

    def warmup(self) -> None:
        """Load (or compile) every kernel a step needs, then leave a clean, freshly reset state.

        Workers call this before they report ready, so that the learner's reply timeout only
        ever covers steady-state work, never a minute of first-time kernel compilation.
        """
        self.reset(seed=0)
        self.step(torch.zeros(self.num_envs, NUM_ACTIONS, device=self.device))
        self.needs_reset.zero_()
        self.reset(seed=0)

    # ----------------------------------------------------------------------------------------
    # stepping
    # ----------------------------------------------------------------------------------------
    def step(self, actions: torch.Tensor):
        """Advance every environment one control step.

        Args:
            actions: ``(N, 23)`` float tensor on this task's device, in ``[-1, 1]`` (clipped).

        Returns:
            ``(obs, reward, terminated, truncated, info)`` as batched tensors; ``obs`` is a dict
            by key; ``info`` holds ``success``, ``reward/<term>``, ``diverged``, ``episode_stats`` (``r``,
            ``l``, ``success`` of episodes that ended) with ``_episode_stats``, and in ``same_step``
            mode ``final_obs`` with its mask ``_final_obs``.
        """
        cfg = self.cfg
        resetting = self.needs_reset if self.autoreset_mode == "next_step" else torch.zeros_like(self.needs_reset)
        actions = actions.to(torch.float32).clamp(-1.0, 1.0)
        actions = torch.where(resetting.unsqueeze(1), torch.zeros_like(actions), actions)
        self.prev_action = self.last_action
        self.last_action = actions
        self.targets = torch.maximum(torch.minimum(self.targets + cfg.action_scale * actions, self.joint_high),
                                     self.joint_low)
        self.sim.ctrl.copy_(self.targets)
        self._push_object()
        self.sim.step()
        self.step_count += 1

        sim = self.sim
        diverged = has_diverged(sim.qpos, sim.qvel)
        obj = sim.qpos[:, sim.object_qpos]
        object_pos = torch.nan_to_num(obj[:, :3])
        fingertips = torch.nan_to_num(sim.site_xpos[:, self.fingertip_sites])
        success = in_success_region(object_pos, self.goal, cfg.success_threshold)
        terms = reward_terms(fingertips, object_pos, self.goal, torch.nan_to_num(sim.qpos[:, 7:23]), self.curled,
                             actions, self.prev_action, success, cfg.reward)
        scales = cfg.reward.scales()
        weighted = {k: scales[k] * v for k, v in terms.items()}
        # elementwise, in a fixed order: a stacked .sum(0) rounds differently for different
        # batch sizes, and environment i must not depend on how many others share its worker
        reward = sum(weighted.values(), torch.zeros_like(success, dtype=torch.float32))
        terminated = object_lost(object_pos, self.workspace_low, self.workspace_high) & ~diverged
        truncated = (self.step_count >= cfg.max_episode_steps) | diverged
        # environments reset at the start of this step (next_step mode) report a fresh start
        quiet = resetting | diverged
        reward = torch.where(quiet, torch.zeros_like(reward), reward)
        terminated = terminated & ~resetting
        truncated = truncated & ~resetting
        done = terminated | truncated
        self.episode_return += reward
        info: dict = {
            "success": success & ~quiet,
            "diverged": diverged & ~resetting,
            "episode_stats": {
                "r": self.episode_return.clone(),
                "l": self.step_count.clone(),
                "success": success & ~diverged,
            },
            "_episode_stats": done,
        }
        for k, v in weighted.items():
            info[f"reward/{k}"] = torch.where(quiet, torch.zeros_like(v), v)

        # resets: next_step envs that ended last step, diverged worlds now, same_step ended now
        reset_now = resetting | diverged
        if self.autoreset_mode == "same_step":
            final_obs = self._observe()
            info["final_obs"], info["_final_obs"] = final_obs, done
            reset_now = reset_now | done
        self._reset(reset_now)
        # environments that ended and are not reset yet: next_step resets them in the next call,
        # disabled leaves them to reset(options={"reset_mask": ...})
        if self.autoreset_mode == "next_step":
            self.needs_reset = done & ~diverged
        elif self.autoreset_mode == "disabled":
            self.needs_reset = (self.needs_reset | done) & ~reset_now
        if self.autoreset_mode != "same_step" or bool(reset_now.any()):
            sim.forward()
            self._obs = self._observe()
        else:
            self._obs = final_obs
        return self._obs, reward, terminated, truncated, info

    def _push_object(self) -> None:
        rcfg = self.cfg.randomization
        if rcfg.object_push_velocity is None:
            return
        u = self._uniform("push", 4, per_step=True)
        push = u[:, 0] < rcfg.object_push_probability
        direction = torch.nn.functional.normalize(u[:, 1:] - 0.5, dim=-1)
        kick = direction * rcfg.object_push_velocity * self.difficulty
        lin = self.sim.qvel[:, self.sim.object_qvel][:, :3]
        self.sim.qvel[:, 23:26] = torch.where(push.unsqueeze(1), lin + kick, lin)

    # ----------------------------------------------------------------------------------------
    # observations
    # ----------------------------------------------------------------------------------------
    def _observe(self) -> dict[str, torch.Tensor]:
        sim, rcfg = self.sim, self.cfg.randomization
        n = self.num_envs
        joint_pos = sim.qpos[:, :23]
        if rcfg.joint_pos_noise is not None:
            joint_pos = joint_pos + self._uniform("obs_joint", 23, -1.0, 1.0, per_step=True) * (
                rcfg.joint_pos_noise * self.difficulty)
        joint_vel = sim.qvel[:, :23]
        palm_pos = sim.site_xpos[:, sim.palm_site]
        palm_quat = canonical_quat(sim.xquat[:, sim.palm_body])
        tips = sim.site_xpos[:, self.fingertip_sites].reshape(n, 12)
        proprio = [joint_pos, joint_vel, palm_pos, palm_quat, tips, self.goal, self.last_action]
        out: dict[str, torch.Tensor] = {}
        if "proprio" in self.obs_keys:
            out["proprio"] = torch.cat(proprio, dim=-1)
        if "state" in self.obs_keys:
            obj = sim.qpos[:, sim.object_qpos]
            object_pos = obj[:, :3]
            if rcfg.object_pos_noise is not None:
                object_pos = object_pos + self._uniform("obs_object", 3, -1.0, 1.0, per_step=True) * (
                    rcfg.object_pos_noise * self.difficulty)
            vel = sim.qvel[:, sim.object_qvel]
            kind = torch.nn.functional.one_hot(self.object_kind, len(objects.KINDS)).float()
            out["state"] = torch.cat(
                proprio[:5] + [object_pos, canonical_quat(obj[:, 3:]), vel[:, :3], vel[:, 3:], self.goal,
                               self.goal - object_pos, self.last_action, kind, self.object_size,
                               self.object_mass.unsqueeze(1), self.object_friction.unsqueeze(1)], dim=-1)
        if sim.cameras:
            images = sim.render()
            if "depth" in images:
                out["depth"] = self._process_depth(images["depth"]).unsqueeze(1)
            for eye in ("left", "right"):
                if eye in images:
                    out[eye] = images[eye].permute(0, 3, 1, 2).contiguous()
        return {k: out[k] for k in self.obs_keys}

    def _process_depth(self, raw: torch.Tensor) -> torch.Tensor:
        """Metres, misses read as far, clipped to the range; optional noise and dropout."""
        near, far = self.cfg.camera.depth_range
        rcfg = self.cfg.randomization
        depth = torch.where(raw > 0, raw, torch.full_like(raw, far))
        n, h, w = depth.shape
        if rcfg.depth_noise_std is not None:
            noise = rng.normal(self._key("depth_noise", True), h * w).view(n, h, w)
            depth = depth + noise * (rcfg.depth_noise_std * self.difficulty)
        depth = depth.clamp(near, far)
        if rcfg.depth_dropout is not None:
            drop = rng.uniform(self._key("depth_dropout", True), h * w).view(n, h, w) < (
                rcfg.depth_dropout * self.difficulty)
            depth = torch.where(drop, torch.zeros_like(depth), depth)
        return depth

    @property
    def last_obs(self) -> dict[str, torch.Tensor] | None:
        """The observation returned by the last ``reset``/``step``."""
        return self._obs

