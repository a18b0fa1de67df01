"""The simulator interface the task layer sees, shared by both physics backends.

A :class:`Simulator` holds ``num_worlds`` copies of the task scene and shows them to the task
layer (:mod:`dexgrasp_env.task`) as float32 torch tensors on one device:

* state: ``qpos``, ``qvel``, ``ctrl``, ``mocap_pos`` (the task writes them to reset worlds and
  to push objects; the next :meth:`Simulator.step` starts from what they hold);
* frames of the new state after every :meth:`~Simulator.step` and :meth:`~Simulator.forward`:
  ``site_xpos``, ``site_xquat`` (all sites), ``arm_axis`` and ``arm_anchor`` (world axis and
  anchor of the 7 arm joints, for the palm-space IK);
* per-world model fields (``fields``, written through :meth:`~Simulator.set_field`): object shape
  and size, masses, friction, servo gains, cameras, lights, colours.

Two backends implement it: :class:`~dexgrasp_env.sim.c_backend.MujocoSim` (C MuJoCo, one
``MjModel`` per world, stepped by ``mujoco.rollout``'s thread pool: the CPU path) and
:class:`~dexgrasp_env.sim.warp_backend.WarpSim` (MuJoCo Warp, one batched model: the CUDA path).
Both compile the same ``MjSpec`` and run the same algorithms, so the task layer cannot tell them
apart (``tests/envs/test_backends.py`` checks that they agree). Images always come from the
MuJoCo Warp batch ray tracer, which needs no OpenGL.
"""

from __future__ import annotations

import os

import torch

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.devices import resolve_device
from dexgrasp_env.robot import kuka_allegro as ka
from dexgrasp_env.robot.object_sets import load_object_set
from dexgrasp_env.robot.scene import build_model, object_geom_names
from dexgrasp_env.sensors import POLICY_CAMERAS, VIEWER_CAMERA, camera_of

#: Model fields that differ between worlds (randomization and per-world objects: a mesh slot's mesh
#: id, frame and bounds, the object's mass properties).
BATCHED_FIELDS = (
    "geom_size", "geom_aabb", "geom_rbound", "geom_friction", "geom_rgba", "geom_dataid", "geom_pos", "geom_quat",
    "body_mass", "body_subtreemass", "body_inertia", "body_ipos", "body_iquat", "body_invweight0", "dof_invweight0",
    "actuator_gainprm", "actuator_biasprm", "cam_pos", "cam_quat", "light_diffuse",
)
BACKENDS = ("mujoco", "warp")
"""``mujoco``: C MuJoCo on CPU threads. ``warp``: MuJoCo Warp (CUDA, or Warp's CPU device)."""


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend to run: ``"auto"`` picks C MuJoCo on CPU and MuJoCo Warp on CUDA.

    Raises:
        ValueError: An unknown backend, or the C backend asked to run on a CUDA device.
    """
    if backend == "auto":
        return "warp" if device.type == "cuda" else "mujoco"
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is unknown; expected 'auto' or one of {BACKENDS}")
    if backend == "mujoco" and device.type != "cpu":
        raise ValueError(f"backend='mujoco' (C MuJoCo) runs on the CPU only, got device {str(device)!r}; "
                         f"use backend='warp' or 'auto' on CUDA")
    return backend


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Simulator:
    """``num_worlds`` copies of the scene on one device (see the module docstring).

    Args:
        cfg: The task config (physics rates, servo gains, camera rig and resolution).
        num_worlds: Number of worlds.
        device: ``"cpu"`` or ``"cuda:<k>"``.
        cameras: Which of the sensors' cameras (:data:`~dexgrasp_env.sensors.POLICY_CAMERAS`) :meth:`render`
            renders, each at its own sensor's size.

    Attributes:
        objects: The object set (:class:`~dexgrasp_env.robot.object_sets.ObjectSet`).
        mjm: The compiled ``MjModel`` every world starts from (every mesh of the set).
        object_index: ``(N,)`` the object each world holds (:meth:`set_objects`).
        backend: ``"mujoco"`` or ``"warp"``.
        qpos, qvel, ctrl: ``(N, nq)``, ``(N, nv)``, ``(N, nu)`` float32 state and control.
        mocap_pos: ``(N, nmocap, 3)`` mocap positions (the goal marker).
        site_xpos, site_xquat: ``(N, nsite, 3)`` / ``(N, nsite, 4)`` site frames.
        arm_axis, arm_anchor: ``(N, 7, 3)`` world axis and anchor point of each arm joint.
        fields: per-world model fields by name (:data:`BATCHED_FIELDS`), each ``(N, ...)``.
        defaults: each field's compiled value (one world's row).

    Named views (:meth:`_make_views`): ``joint_pos``, ``joint_vel``, ``arm_q``, ``hand_q``,
    ``object_pos``, ``object_quat``, ``object_linvel``, ``object_angvel``, ``palm_pos``,
    ``palm_quat``, ``fingertip_pos`` (``(N, 4, 3)``). The state and frame tensors are allocated
    once and updated in place, so these views always show the current values.
    """

    backend = ""

    def __init__(self, cfg: EnvConfig, num_worlds: int, device: str | torch.device = "cpu", *,
                 cameras: tuple[str, ...] = ()) -> None:
        if isinstance(num_worlds, bool) or int(num_worlds) != num_worlds or num_worlds < 1:
            raise ValueError(f"num_worlds={num_worlds!r} must be a positive integer")
        unknown = [c for c in cameras if c not in POLICY_CAMERAS]
        if unknown:
            raise ValueError(f"unknown cameras {unknown}; expected some of {POLICY_CAMERAS}")
        self.cfg = cfg
        self.num_worlds = int(num_worlds)
        self.device = resolve_device(device)
        self.cameras = tuple(cameras)
        self.objects = load_object_set(cfg)
        self.mjm = build_model(cfg, self.objects)
        self._ids()
        self.object_index = torch.zeros(self.num_worlds, dtype=torch.int64, device=self.device)

    # ------------------------------------------------------------------------------------------
    def _ids(self) -> None:
        """Named indices into the model (no magic numbers in the task layer)."""
        m = self.mjm
        if m.nq != 30 or m.nv != 29 or m.nu != 23:
            raise RuntimeError(f"unexpected model sizes nq={m.nq} nv={m.nv} nu={m.nu}")
        self.robot_qpos = slice(0, len(ka.JOINTS))
        self.arm_qpos = slice(0, len(ka.ARM_JOINTS))
        self.hand_qpos = slice(len(ka.ARM_JOINTS), len(ka.JOINTS))
        self.robot_qvel = self.robot_qpos
        obj = m.joint("object")
        self.object_qpos = slice(int(obj.qposadr[0]), int(obj.qposadr[0]) + 7)
        self.object_qvel = slice(int(obj.dofadr[0]), int(obj.dofadr[0]) + 6)
        self.object_linvel_dofs = slice(self.object_qvel.start, self.object_qvel.start + 3)
        self.object_angvel_dofs = slice(self.object_qvel.start + 3, self.object_qvel.stop)
        self.object_z = self.object_qpos.start + 2
        self.object_body = m.body("object").id
        self.object_geoms = torch.tensor([m.geom(name).id for name in object_geom_names(self.objects)])
        self.palm_site = m.site("palm").id
        self.palm_body = int(m.site_bodyid[self.palm_site])
        tips = [m.site(name).id for name, _ in ka.FINGERTIPS]
        if tips != list(range(tips[0], tips[0] + len(tips))):
            raise RuntimeError(f"the fingertip sites are not contiguous in the model: {tips}")
        self.fingertip_sites = slice(tips[0], tips[0] + len(tips))
        arm = [m.joint(name).id for name in ka.ARM_JOINTS]
        if arm != list(range(arm[0], arm[0] + len(arm))):
            raise RuntimeError(f"the arm joints are not contiguous in the model: {arm}")
        self.arm_joints = slice(arm[0], arm[0] + len(arm))
        self.camera_ids = {name: m.camera(name).id for name in POLICY_CAMERAS + (VIEWER_CAMERA,)}
        self.camera_sizes = tuple((camera_of(self.cfg.sensors, c).width, camera_of(self.cfg.sensors, c).height)
                                  for c in self.cameras)
        """``(width, height)`` of each rendered camera, in :attr:`cameras` order."""
        self.table_geom = m.geom("table").id
        self.joint_range = torch.tensor(m.jnt_range[: len(ka.JOINTS)], dtype=torch.float32)
        self.robot_geoms = torch.tensor([g for g in range(m.ngeom) if m.geom_bodyid[g] not in (0, self.object_body)
                                         and m.body_mocapid[m.geom_bodyid[g]] < 0])

    def _make_views(self) -> None:
        """Named views of the state and frames (backends call this once their tensors exist)."""
        obj = self.object_qpos.start
        self.joint_pos, self.joint_vel = self.qpos[:, self.robot_qpos], self.qvel[:, self.robot_qvel]
        self.arm_q, self.hand_q = self.qpos[:, self.arm_qpos], self.qpos[:, self.hand_qpos]
        self.object_pos, self.object_quat = self.qpos[:, obj : obj + 3], self.qpos[:, obj + 3 : obj + 7]
        self.object_linvel = self.qvel[:, self.object_linvel_dofs]
        self.object_angvel = self.qvel[:, self.object_angvel_dofs]
        self.palm_pos = self.site_xpos[:, self.palm_site]
        self.palm_quat = self.site_xquat[:, self.palm_site]
        self.fingertip_pos = self.site_xpos[:, self.fingertip_sites]

    def field_shapes(self) -> dict[str, tuple[int, ...]]:
        """One world's shape of each per-world field (MuJoCo Warp's layout: ``geom_aabb`` is (ngeom, 2, 3))."""
        m = self.mjm
        return {name: tuple(getattr(m, name).shape) if name != "geom_aabb" else (m.ngeom, 2, 3)
                for name in BATCHED_FIELDS}

    # ------------------------------------------------------------------------------------------
    # writes from the task layer
    # ------------------------------------------------------------------------------------------
    def set_field(self, name: str, mask: torch.Tensor, value: torch.Tensor, index=None) -> None:
        """Set rows ``mask`` (``(N,)`` bool) of a per-world field, optionally only entries ``index``.

        Args:
            name: A name from :data:`BATCHED_FIELDS`.
            mask: Which worlds change.
            value: ``(N, ...)`` new values (rows outside ``mask`` are ignored).
            index: Entries of the field's first per-world dimension to write (e.g. the object geoms).
        """
        field = self.fields[name]
        target = field if index is None else field[:, index]
        m = mask.view(-1, *([1] * (target.dim() - 1)))
        new = torch.where(m, value.to(target.dtype), target)
        if index is None:
            field.copy_(new)
        else:
            field[:, index] = new
        self._fields_changed(name, mask)

    def set_objects(self, mask: torch.Tensor, index: torch.Tensor) -> None:
        """Worlds ``mask`` now hold objects ``index`` of the set (before :meth:`set_field` writes their fields).

        The batched fields say which mesh each slot shows; a backend whose worlds are separate
        models (C MuJoCo) also swaps in that object's own model here.
        """
        self.object_index = torch.where(mask, index, self.object_index)

    def reset_worlds(self, mask: torch.Tensor, qpos: torch.Tensor, ctrl: torch.Tensor,
                     mocap_pos: torch.Tensor) -> None:
        """Start worlds ``mask`` afresh: the given ``qpos``, ``ctrl`` and mocap positions, at rest.

        Velocities, the solver's warm start and the clock of those worlds are cleared; other
        worlds are untouched. Call :meth:`forward` before reading frames.
        """
        m1 = mask.unsqueeze(1)
        self.qpos.copy_(torch.where(m1, qpos, self.qpos))
        self.qvel.copy_(torch.where(m1, torch.zeros_like(self.qvel), self.qvel))
        self.ctrl.copy_(torch.where(m1, ctrl, self.ctrl))
        self.mocap_pos.copy_(torch.where(m1.unsqueeze(-1), mocap_pos, self.mocap_pos))
        self._clear_dynamics(mask)

    # ------------------------------------------------------------------------------------------
    # backend hooks
    # ------------------------------------------------------------------------------------------
    def _fields_changed(self, name: str, mask: torch.Tensor) -> None:
        """Called after :meth:`set_field` wrote rows ``mask`` of ``name``."""

    def _clear_dynamics(self, mask: torch.Tensor) -> None:
        """Clear the backend's hidden per-world dynamics state (warm start, clock) of ``mask``."""
        raise NotImplementedError

    def forward(self) -> None:
        """Recompute the frames from ``qpos`` (after writing the state).

        Deterministic in ``qpos``: worlds whose state did not change get bit-identical frames.
        """
        raise NotImplementedError

    def step(self) -> None:
        """Advance every world by one control step (``cfg.decimation`` physics steps).

        Afterwards the frames are those of the new state. A world whose state the solver could
        not advance (non-finite or exploding) holds non-finite velocities afterwards, so that the
        task layer's divergence check resets it, whichever backend runs.
        """
        raise NotImplementedError

    def arm_frames(self, arm_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Palm position, arm joint axes and anchors as they would be with the arm joints at ``arm_q``.

        The palm-space IK linearises around the arm's *targets*, which the servos reach a few steps
        later; a Jacobian of the measured (lagging) state would shrink every commanded motion.

        Args:
            arm_q: ``(N, 7)`` arm joint angles (the rest of the state is the current one).

        Returns:
            ``(palm_pos (N, 3), arm_axis (N, 7, 3), arm_anchor (N, 7, 3))``, valid until the next call.
        """
        raise NotImplementedError

    def render(self) -> dict[str, torch.Tensor]:
        """Render the policy cameras of every world.

        Returns:
            ``{"depth"/"wrist_depth": (N, H, W) float32}`` planar depth in metres (0 where the ray hits
            nothing), ``{"left"/"right": (N, H, W, 3) uint8}`` colour images, for the cameras asked for,
            each at its sensor's size.
            The tensors are views of the renderer's buffers, overwritten by the next render.
        """
        raise NotImplementedError

    def render_viewer(self, width: int = 320, height: int = 240) -> torch.Tensor:
        """A person's view of every world (goal marker included): ``(N, H, W, 3)`` uint8."""
        raise NotImplementedError

    def memory_bytes(self) -> int:
        """Bytes this simulator holds (models, data, buffers, render contexts)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release native resources (thread pools) now, while the interpreter is fully alive.

        Left to interpreter shutdown, a native thread pool may be torn down after the runtime it
        needs (a process that ends with ``terminate called without an active exception``).
        """
