"""C MuJoCo: one ``MjModel`` per world, stepped in parallel by ``mujoco.rollout`` (the CPU path).

Why this backend: MuJoCo Warp on Warp's CPU device costs ~10 ms of launch overhead per physics
step whatever the batch, so one world steps ~60 times a second; the C library steps the same model
~50,000 times a second per core. ``mujoco.rollout`` runs a batch of worlds on a C++ thread pool
with the GIL released, each world with its own ``MjModel`` (so object shapes, masses, friction
and gains differ per world), and no Python loop over worlds.

How a control step runs:

1. The float32 state the task layer sees (``qpos``, ``qvel``, ``ctrl``) is packed into one float64
   ``(N, 1 + nq + nv)`` array (``mjSTATE_FULLPHYSICS``: time, qpos, qvel).
2. One rollout of ``decimation`` physics steps per world, on the per-world models.
3. One rollout of a single step on a *kinematics model*: the same scene with every force,
   contact and constraint switched off and frame sensors on every site and arm link. The
   sensors of ``mj_step`` are evaluated before it integrates, so this step's sensor data are the
   frames of the state just computed (its own integration is thrown away). One model serves all
   worlds: frames do not depend on the per-world fields. A single world (a ``gym.make`` environment)
   skips the rollout and calls MuJoCo's position stage directly (``_frames``): the same numbers.

Per-world fields are written into the models of the worlds that changed (a loop over the few
worlds that reset). With a mesh object set, every object has its own compiled model (a *template*
holding only that object's collision meshes), and a world that takes another object gets a copy of
that template first: a world's model holds its own object, not every mesh of the set. Images come
from the MuJoCo Warp batch renderer on a Warp copy of the state, whose one batched model holds every
mesh and picks each world's by ``geom_dataid``.

Warp runs a CPU kernel on one thread, so the copy is split into shards of worlds (one per rollout
thread, or ``EnvConfig.render_threads``), each with its own render context, and the shards render
on a thread pool (a Warp launch releases the GIL). On 2 cores that renders 256 worlds at 48x48 in
59 ms instead of 105 ms, with bit-identical images.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch
from mujoco import rollout

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.robot import kuka_allegro as ka
from dexgrasp_env.robot.scene import build_model, build_spec
from dexgrasp_env.sensors import VIEWER_CAMERA
from dexgrasp_env.sim.base import BATCHED_FIELDS, Simulator, available_cores

_KINEMATICS_OFF = (
    "mjDSBL_CONSTRAINT", "mjDSBL_CONTACT", "mjDSBL_GRAVITY", "mjDSBL_ACTUATION", "mjDSBL_SPRING", "mjDSBL_DAMPER",
    "mjDSBL_FRICTIONLOSS", "mjDSBL_LIMIT", "mjDSBL_EQUALITY", "mjDSBL_WARMSTART", "mjDSBL_MIDPHASE",
)


def resolve_threads(threads: int | None) -> int:
    """Threads of the C backend's pool: ``None`` means every core this process may use."""
    if threads is None:
        return available_cores()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"sim_threads={threads!r} must be an integer >= 1 (or None: all {available_cores()} cores)")
    return int(threads)


def kinematics_model(cfg: EnvConfig, objects=None) -> tuple[mujoco.MjModel, dict[str, slice]]:
    """The scene with forces off and frame sensors on, and where each block of sensor data sits.

    Blocks: ``site_pos`` (nsite x 3) and ``site_quat`` (nsite x 4) of every site; for the 7 arm joints
    ``arm_anchor`` and ``arm_axis`` (7 x 3 each). Every arm joint of the iiwa turns about an axis of
    its link's frame through the link's origin, so these are frame sensors of the links: the
    link's origin and the link axis the joint turns about. Frames do not depend on the object, so a
    mesh set's model holds its first object only.
    """
    spec = build_spec(cfg, objects, only=0 if objects is not None and objects.is_mesh else None)
    st, ot = mujoco.mjtSensor, mujoco.mjtObj
    sites = [s.name for s in spec.sites]
    links, axis_sensor = [], None
    for name in ka.ARM_JOINTS:
        joint = spec.joint(name)
        axis = np.asarray(joint.axis, dtype=float)
        axis = axis / np.linalg.norm(axis)
        k = int(np.argmax(np.abs(axis)))
        sensor = (st.mjSENS_FRAMEXAXIS, st.mjSENS_FRAMEYAXIS, st.mjSENS_FRAMEZAXIS)[k]
        if np.any(joint.pos != 0) or abs(axis[k]) != 1.0 or axis[k] < 0 or axis_sensor not in (None, sensor):
            raise NotImplementedError(f"arm joint {name!r} (axis {joint.axis}, pos {joint.pos}) is not a turn about "
                                      f"a positive axis of its link through the link's origin, as the C backend's "
                                      f"frame sensors assume")
        axis_sensor = sensor
        links.append(joint.parent.name)
    blocks = [("site_pos", st.mjSENS_FRAMEPOS, ot.mjOBJ_SITE, sites, 3),
              ("site_quat", st.mjSENS_FRAMEQUAT, ot.mjOBJ_SITE, sites, 4),
              ("arm_anchor", st.mjSENS_FRAMEPOS, ot.mjOBJ_XBODY, links, 3),
              ("arm_axis", axis_sensor, ot.mjOBJ_XBODY, links, 3)]
    slices, start = {}, 0
    for key, sensor, objtype, names, dim in blocks:
        for name in names:
            spec.add_sensor(type=sensor, objtype=objtype, objname=name)
        slices[key] = slice(start, start + dim * len(names))
        start += dim * len(names)
    model = spec.compile()
    for flag in _KINEMATICS_OFF:
        model.opt.disableflags |= int(getattr(mujoco.mjtDisableBit, flag))
    return model, slices


def _world_options(m: mujoco.MjModel) -> mujoco.MjModel:
    """The options of a world's model (in place)."""
    dsbl = mujoco.mjtDisableBit
    # The midphase tests each body's compile-time bounding-volume tree, which knows nothing of the
    # per-world object sizes; broadphase + narrowphase alone find the same contacts here.
    m.opt.disableflags |= int(dsbl.mjDSBL_MIDPHASE)
    # A world whose state blows up is otherwise reset to qpos0 by MuJoCo without a word; keep it
    # broken so that the task layer sees it, resets it properly and counts it.
    m.opt.disableflags |= int(dsbl.mjDSBL_AUTORESET)
    return m


class MujocoSim(Simulator):
    """The worlds as C MuJoCo models on CPU threads (see the module docstring).

    Args:
        cfg, num_worlds, device, cameras: As :class:`~dexgrasp_env.sim.base.Simulator`; the
            device must be the CPU.
        threads: Threads of the rollout pool (``None``: ``cfg.sim_threads``, else every core).
    """

    backend = "mujoco"

    def __init__(self, cfg: EnvConfig, num_worlds: int, device: str | torch.device = "cpu", *,
                 cameras: tuple[str, ...] = (), threads: int | None = None) -> None:
        super().__init__(cfg, num_worlds, device, cameras=cameras)
        if self.device.type != "cpu":
            raise ValueError(f"backend='mujoco' (C MuJoCo) runs on the CPU only, got device {str(self.device)!r}; "
                             f"use backend='warp' or 'auto' on CUDA")
        self.threads = resolve_threads(threads if threads is not None else cfg.sim_threads)
        n = self.num_worlds
        m = _world_options(copy.copy(self.mjm))  # self.mjm stays as compiled
        # a mesh set: one template per object; worlds copy the template of the object they hold
        self._templates = ([_world_options(build_model(cfg, self.objects, only=k)) for k in range(len(self.objects))]
                           if self.objects.is_mesh else None)
        self._model_object = np.zeros(n, dtype=np.int64)
        self.models = [copy.copy(self._templates[0] if self._templates else m) for _ in range(n)]
        self._kin_model, self._sensor = kinematics_model(cfg, self.objects)
        self._kin_models = [self._kin_model] * n
        nthread = min(self.threads, n) if n > 1 else 0
        nthread = 0 if nthread == 1 else nthread
        self._pool = rollout.Rollout(nthread=nthread)
        self._datas = [mujoco.MjData(self.models[0]) for _ in range(max(nthread, 1))]
        self._kin_datas = [mujoco.MjData(self._kin_model) for _ in range(max(nthread, 1))]
        self._direct = self._kin_datas[0] if n == 1 else None  # see _frames
        self._spec_full = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
        self._spec_ctrl = int(mujoco.mjtState.mjSTATE_CTRL)
        nstate = mujoco.mj_stateSize(m, self._spec_full)
        if nstate != 1 + m.nq + m.nv:
            raise RuntimeError(f"unexpected physics state size {nstate} (expected time, qpos, qvel)")
        self._qpos_cols, self._qvel_cols = slice(1, 1 + m.nq), slice(1 + m.nq, nstate)
        steps = cfg.decimation
        # float64 buffers shared with numpy (rollout reads and writes these in place)
        self._state = np.zeros((n, nstate))
        self._ctrl_in = np.zeros((n, steps, m.nu))
        self._out = np.zeros((n, steps, nstate))
        self._sens = np.zeros((n, 1, self._kin_model.nsensordata))
        self._min_advance = (steps - 0.5) * cfg.physics_dt

        f32 = dict(dtype=torch.float32)
        # the float32 state the task layer sees is one tensor with the float64 state's layout, so that
        # packing and unpacking are one copy each
        self._state32 = torch.zeros(n, nstate, **f32)
        self.qpos, self.qvel = self._state32[:, self._qpos_cols], self._state32[:, self._qvel_cols]
        self.qpos.copy_(torch.as_tensor(m.qpos0, **f32))
        self.ctrl = torch.zeros(n, m.nu, **f32)
        self._state32_np, self._ctrl_np = self._state32.numpy(), self.ctrl.numpy()
        mocap_bodies = [b for b in range(m.nbody) if m.body_mocapid[b] >= 0]
        self.mocap_pos = torch.as_tensor(m.body_pos[mocap_bodies], **f32).repeat(n, 1, 1)
        self._sens32 = torch.zeros(n, self._kin_model.nsensordata, **f32)
        self._sens32_np = self._sens32.numpy()
        k = self._sensor
        self.site_xpos = self._sens32[:, k["site_pos"]].view(n, -1, 3)
        self.site_xquat = self._sens32[:, k["site_quat"]].view(n, -1, 4)
        self.arm_anchor = self._sens32[:, k["arm_anchor"]].view(n, 7, 3)
        self.arm_axis = self._sens32[:, k["arm_axis"]].view(n, 7, 3)
        self._make_views()
        # the same frames for a configuration with other arm angles (arm_frames)
        self._arm_cols = slice(1 + self.arm_qpos.start, 1 + self.arm_qpos.stop)
        self._at_state, self._at_sens = np.zeros_like(self._state), np.zeros_like(self._sens)
        self._at_arm = torch.zeros(n, self.arm_qpos.stop - self.arm_qpos.start, **f32)
        self._at_arm_np = self._at_arm.numpy()
        at32 = torch.zeros_like(self._sens32)
        self._at_sens32_np = at32.numpy()
        site_pos = at32[:, k["site_pos"]].view(n, -1, 3)
        self._at_views = (site_pos[:, self.palm_site], at32[:, k["arm_axis"]].view(n, 7, 3),
                          at32[:, k["arm_anchor"]].view(n, 7, 3))

        shapes = self.field_shapes()
        self.defaults = {name: torch.as_tensor(getattr(m, name), **f32).reshape(shapes[name])
                         for name in BATCHED_FIELDS}
        self.fields = {name: v.expand(n, *v.shape).clone() for name, v in self.defaults.items()}
        self._dirty = torch.zeros(n, dtype=torch.bool)
        self._any_dirty = False
        # the Warp copy of the worlds, made when images are first needed: one shard per render thread
        shards = min(cfg.render_threads or self.threads, n)
        self._shards = [slice(i * n // shards, (i + 1) * n // shards) for i in range(shards)]
        self._mirrors: list | None = None
        self._render_pool: ThreadPoolExecutor | None = None
        self.forward()

    # ------------------------------------------------------------------------------------------
    def _fields_changed(self, name: str, mask: torch.Tensor) -> None:
        self._dirty |= mask
        self._any_dirty = True

    def _sync_models(self) -> None:
        """Write the per-world fields of the worlds that changed into their models."""
        if not self._any_dirty:
            return
        worlds = self._dirty.nonzero()[:, 0].tolist()
        # mesh ids are the batched model's (the renderer's); a world's own model numbers its one object's
        values = {name: field.numpy() for name, field in self.fields.items() if name != "geom_dataid"}
        for i in worlds:
            if self._templates is not None and self._model_object[i] != int(self.object_index[i]):
                k = int(self.object_index[i])
                self.models[i] = copy.copy(self._templates[k])
                self._model_object[i] = k
            model = self.models[i]
            for name, value in values.items():
                dst = getattr(model, name)
                dst[...] = value[i].reshape(dst.shape)
        self._dirty.zero_()
        self._any_dirty = False

    def _clear_dynamics(self, mask: torch.Tensor) -> None:
        # the clock; rollout starts every control step with a cold warm start (it returns none)
        self._state32[:, 0].masked_fill_(mask, 0.0)

    def _rollout(self, models, datas, nstep: int, state0, control, state, sensordata) -> None:
        """``mujoco.rollout`` without its Python wrapper's checks (the buffers are made to fit, once)."""
        self._pool.rollout_.rollout(models, datas, nstep, self._spec_ctrl, state0, None, control, state, sensordata,
                                    None)

    def _frames(self, state: np.ndarray, sens: np.ndarray) -> None:
        """The frame sensors of the kinematics model at ``state`` ``(n, nstate)`` into ``sens`` ``(n, 1, nsensor)``.

        One world without a pool (a single environment) calls MuJoCo's position stage directly: kinematics, then
        the position sensors, which is all a frame sensor reads. The same numbers as the one-step rollout (its
        ``mj_step`` evaluates them in the same functions first), at about half the cost (7-9 against 16-19 us
        measured): at one environment the rollout's setup is most of it.
        """
        if self._direct is None:
            self._rollout(self._kin_models, self._kin_datas, 1, state, None, None, sens)
            return
        d = self._direct
        np.copyto(d.qpos, state[0, self._qpos_cols])
        mujoco.mj_kinematics(self._kin_model, d)
        mujoco.mj_sensorPos(self._kin_model, d)
        np.copyto(sens[0, 0], d.sensordata)

    def _kinematics(self) -> None:
        self._frames(self._state, self._sens)
        np.copyto(self._sens32_np, self._sens[:, 0])

    # (numpy on these CPU buffers: a numpy call costs a fraction of a torch op's dispatch, and at
    # one environment the per-call cost is all there is)
    def forward(self) -> None:
        np.copyto(self._state, self._state32_np)
        self._kinematics()

    def arm_frames(self, arm_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self._at_arm.copy_(arm_q)  # through a persistent buffer: a numpy view of it costs nothing
        np.copyto(self._at_state, self._state)
        np.copyto(self._at_state[:, self._arm_cols], self._at_arm_np)
        self._frames(self._at_state, self._at_sens)
        np.copyto(self._at_sens32_np, self._at_sens[:, 0])
        return self._at_views

    def step(self) -> None:
        self._sync_models()
        np.copyto(self._state, self._state32_np)
        np.copyto(self._ctrl_in, self._ctrl_np[:, None, :])
        self._rollout(self.models, self._datas, self.cfg.decimation, self._state, self._ctrl_in, self._out, None)
        last = self._out[:, -1]
        # rollout stops a world at its first warning (a bad acceleration): its clock then falls behind
        stalled = last[:, 0] < self._state[:, 0] + self._min_advance
        # the state is float32 (as on MuJoCo Warp): the next step and these frames start from the rounded
        # values, so that re-packing an untouched world (forward() after a partial reset) changes nothing
        with np.errstate(over="ignore", invalid="ignore"):  # a blown-up world reads inf: the task resets it
            np.copyto(self._state32_np, last)
        np.copyto(self._state, self._state32_np)
        if stalled.any():
            self.qvel.masked_fill_(torch.from_numpy(stalled).unsqueeze(1), float("nan"))
        self._kinematics()

    # ------------------------------------------------------------------------------------------
    def _on_shards(self, renderer) -> list[dict[str, torch.Tensor]]:
        """The images of ``renderer(batch)`` (a :class:`BatchRenderer`) of every shard's Warp copy.

        The state and fields are copied into the shards here, on the calling thread; only the Warp
        launches (kinematics, ray tracing) run on the render threads. Why: a torch operation on another
        thread starts an OpenMP team of its own, whose waiting threads then steal the cores from the
        learner's (measured: 15 % slower PPO updates). The first launch of a render context runs here, one
        shard after the other: mujoco_warp then builds the context's own ray-tracing kernel, and Warp
        loads (and may compile) it. Built on several threads at once, the kernels of the shards' contexts
        got mixed up: a whole shard's images came out wrong now and then, and stayed wrong (seen under load).
        """
        import warp as wp

        from dexgrasp_env.sim.warp_backend import WarpBatch

        if self._mirrors is None:
            self._mirrors = [WarpBatch(self.mjm, sl.stop - sl.start, self.device, nconmax=1, njmax=1)
                             for sl in self._shards]
            self._render_pool = ThreadPoolExecutor(len(self._shards), thread_name_prefix="render")
        rigs = []
        for b, sl in zip(self._mirrors, self._shards):
            for name, field in self.fields.items():
                b.fields[name].copy_(field[sl])
            wp.to_torch(b.data.qpos).copy_(self.qpos[sl])
            wp.to_torch(b.data.mocap_pos).copy_(self.mocap_pos[sl])
            rigs.append(renderer(b))

        def launch(i: int) -> None:
            self._mirrors[i].kinematics()
            rigs[i].launch()

        if len(rigs) == 1 or not all(rig.launched for rig in rigs):
            for i in range(len(rigs)):
                launch(i)
        else:
            list(self._render_pool.map(launch, range(len(rigs))))
        return [rig.images() for rig in rigs]

    def render(self) -> dict[str, torch.Tensor]:
        if not self.cameras:
            raise RuntimeError("this simulator was built without cameras")
        parts = self._on_shards(lambda b: b.renderer(self.cameras, self.camera_sizes,
                                                     layered=self.cfg.render_static_once))
        if len(parts) == 1:
            return parts[0]
        return {cam: torch.cat([p[cam] for p in parts]) for cam in self.cameras}

    def render_viewer(self, width: int = 320, height: int = 240) -> torch.Tensor:
        from dexgrasp_env.sim.warp_backend import viewer_renderer

        return torch.cat([p[VIEWER_CAMERA] for p in self._on_shards(lambda b: viewer_renderer(b, width, height))])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()  # joins the rollout threads
            self._pool = None
        if self._render_pool is not None:
            self._render_pool.shutdown()
            self._render_pool = None
        self.models, self._kin_models, self._datas, self._kin_datas, self._mirrors = [], [], [], [], None
        self._direct = None

    def memory_bytes(self) -> int:
        arrays = (self._state, self._ctrl_in, self._out, self._sens)
        tensors = (self._state32, self.ctrl, self.mocap_pos, self._sens32, *self.fields.values())
        total = sum(a.nbytes for a in arrays) + sum(t.nbytes for t in tensors)
        total += sum(m.nbuffer for m in self.models + (self._templates or [])) + self._kin_model.nbuffer
        total += sum(d.nbuffer + d.narena for d in self._datas + self._kin_datas)
        total += sum(b.memory_bytes() for b in self._mirrors or ())
        return total
