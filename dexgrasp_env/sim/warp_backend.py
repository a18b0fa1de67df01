"""MuJoCo Warp: the whole batch of worlds as one model on one Warp device (the CUDA path).

:class:`WarpBatch` owns a batched ``mujoco_warp`` model and data with zero-copy torch views and
the batch ray tracer; :class:`WarpSim` steps it (as one captured graph on CUDA). The C backend
uses a :class:`WarpBatch` too, but only to render its worlds' images.
"""

from __future__ import annotations

import numpy as np
import torch
import warp as wp

wp.config.quiet = True
if hasattr(wp, "LOG_WARNING"):  # warp >= 1.12 logs kernel loads at INFO
    wp.config.log_level = wp.LOG_WARNING

import mujoco  # noqa: E402
import mujoco_warp as mjw  # noqa: E402  (warp must be quiet before mujoco_warp initialises it)

from dexgrasp_env.config import EnvConfig  # noqa: E402
from dexgrasp_env.devices import warp_device_name  # noqa: E402
from dexgrasp_env.robot.scene import GOAL_GROUP, STATIC_GROUP  # noqa: E402
from dexgrasp_env.rotations import quat_mul  # noqa: E402
from dexgrasp_env.sensors import DEPTH_KEYS, RGB_KEYS, VIEWER_CAMERA  # noqa: E402
from dexgrasp_env.sim.base import BATCHED_FIELDS, Simulator  # noqa: E402
from dexgrasp_env.sim.depth_tracer import TiledDepthTracer  # noqa: E402

DRAWN_GROUPS = (0, 1, 2)
"""Geom groups the policy's cameras draw (the person's view adds the goal marker's)."""
STATIC_SLOTS = 8
"""Worlds whose static images a :class:`LayeredRenderer` traces together after a reset (more: the whole batch)."""


class WarpBatch:
    """``num_worlds`` worlds of one ``MjModel`` as a batched MuJoCo Warp model and data.

    Args:
        mjm: The compiled model.
        num_worlds: Number of worlds.
        device: The torch device (``cpu`` or ``cuda:<k>``) whose Warp twin holds the arrays.
        nconmax: Contacts allocated per world.
        njmax: Constraint rows allocated per world.
    """

    def __init__(self, mjm: mujoco.MjModel, num_worlds: int, device: torch.device, nconmax: int = 64,
                 njmax: int = 192) -> None:
        self.mjm, self.num_worlds, self.device = mjm, num_worlds, device
        self.wp_device = wp.get_device(warp_device_name(device))
        n = num_worlds
        # At least two rows per batched field, so that one world and many worlds share the
        # same compiled kernels (mujoco_warp specialises on "batched or not").
        rows = max(n, 2)
        with wp.ScopedDevice(self.wp_device):
            self.model = mjw.put_model(mjm, batch_sizes={f: rows for f in BATCHED_FIELDS})
            # a line search that stops at its limit keeps its best step; that is no overflow worth a
            # print every few steps (contact and constraint overflows still warn)
            self.model.opt.warn_overflow &= ~mjw.OverflowType.LS_ITERATIONS
            self.data = mjw.make_data(mjm, nworld=n, nconmax=nconmax, njmax=njmax)
        self.stream = wp.stream_from_torch(torch.cuda.current_stream(device)) if device.type == "cuda" else None
        t = wp.to_torch
        self.fields = {name: t(getattr(self.model, name))[:n] for name in BATCHED_FIELDS}
        self._renderers: dict = {}

    def scoped(self):
        """The Warp scope (stream on CUDA, device on CPU) every launch runs in."""
        return wp.ScopedStream(self.stream) if self.stream is not None else wp.ScopedDevice(self.wp_device)

    def kinematics(self) -> None:
        """Positions of bodies, sites, geoms, cameras and lights from ``qpos`` and the mocap bodies."""
        with self.scoped():
            mjw.kinematics(self.model, self.data)
            mjw.camlight(self.model, self.data)

    def renderer(self, cameras: tuple[str, ...], resolution: tuple[tuple[int, int], ...],
                 groups=DRAWN_GROUPS, layered: bool = False) -> BatchRenderer | LayeredRenderer:
        """The (cached) renderer of these cameras, each at its ``(width, height)``: with ``layered`` on a CPU device
        and every camera mounted on the world, a :class:`LayeredRenderer` (the same images), else one context."""
        resolution = tuple(tuple(r) for r in resolution)
        layered = (layered and self.device.type == "cpu" and tuple(groups) == DRAWN_GROUPS
                   and all(self.mjm.cam_bodyid[self.mjm.camera(c).id] == 0 for c in cameras))
        key = (tuple(cameras), resolution, tuple(groups), layered)
        if key not in self._renderers:
            kind = LayeredRenderer if layered else BatchRenderer
            self._renderers[key] = kind(self, cameras, resolution) if layered else kind(self, cameras, resolution,
                                                                                     groups)
        return self._renderers[key]

    def memory_bytes(self) -> int:
        """Bytes held by the Warp arrays (model, data, render contexts), nested ones included."""
        seen: set[int] = set()

        def walk(obj, depth: int = 0) -> int:
            if isinstance(obj, wp.array):
                if obj.ptr is None or obj.ptr in seen:
                    return 0
                seen.add(obj.ptr)
                return obj.capacity
            if depth > 4 or isinstance(obj, (str, bytes, int, float, bool, type(None))):
                return 0
            if isinstance(obj, (list, tuple)):
                return sum(walk(v, depth + 1) for v in obj)
            if isinstance(obj, dict):
                return sum(walk(v, depth + 1) for v in obj.values())
            if hasattr(obj, "__dict__") and type(obj).__module__.startswith(("mujoco_warp", "dexgrasp_env")):
                return sum(walk(v, depth + 1) for v in vars(obj).values())
            return 0

        return sum(walk(obj) for obj in (self.model, self.data, *self._renderers.values()))


class BatchRenderer:
    """One batch render context (a set of cameras, each at its own resolution) and views of its outputs.

    ``views``: each camera's image as rendered (depth ``(N, H, W)`` float metres, 0 where no geom was hit; colour
    ``(N, H, W, 4)`` B, G, R, A bytes); ``depths``: the depth of every camera that renders it (with ``all_depth``,
    colour cameras too)."""

    def __init__(self, batch: WarpBatch, cameras: tuple[str, ...], resolution: tuple[tuple[int, int], ...],
                 groups=DRAWN_GROUPS, all_depth: bool = False):
        self.batch, self.cameras, self.resolution = batch, cameras, resolution
        self.launched = False  # mujoco_warp builds this context's ray-tracing kernel on its first render
        with batch.scoped():
            self.rc = mjw.create_render_context(
                batch.mjm, nworld=batch.num_worlds, cam_res=list(resolution), cam_active=list(cameras),
                render_rgb=[c in RGB_KEYS or c == VIEWER_CAMERA for c in cameras],
                render_depth=[all_depth or c in DEPTH_KEYS for c in cameras],
                use_textures=False, use_shadows=False, enabled_geom_groups=list(groups),
                background_color=(0.45, 0.5, 0.55, 1.0),
            )
        n = batch.num_worlds
        depth, rgb = wp.to_torch(self.rc.depth_data), wp.to_torch(self.rc.rgb_data)
        self.views, self.depths = {}, {}
        for i, (cam, (w, h)) in enumerate(zip(cameras, resolution)):
            d_adr, c_adr = int(self.rc.depth_adr.numpy()[i]), int(self.rc.rgb_adr.numpy()[i])
            if d_adr >= 0:
                self.views[cam] = self.depths[cam] = depth[:, d_adr : d_adr + w * h].view(n, h, w)
            if c_adr >= 0:  # packed pixels, stored as B, G, R, A bytes
                self.views[cam] = rgb[:, c_adr : c_adr + w * h].view(torch.uint8).view(n, h, w, 4)

    def render(self) -> dict[str, torch.Tensor]:
        """Render from the batch's current geom and camera positions (run kinematics first)."""
        self.launch()
        return self.images()

    def launch(self) -> None:
        """The ray tracing alone (Warp launches only: the C backend runs it on its render threads)."""
        b = self.batch
        with b.scoped():
            mjw.refit_bvh(b.model, b.data, self.rc)
            mjw.render(b.model, b.data, self.rc)
        self.launched = True

    def images(self) -> dict[str, torch.Tensor]:
        """The last :meth:`launch`'s images: depth as a view, colour as RGB (a copy of the BGR buffer)."""
        return {cam: v if cam in DEPTH_KEYS else v[..., [2, 1, 0]] for cam, v in self.views.items()}


class LayeredRenderer:
    """Static cameras' images as the nearer of two renders: the static scene, ray traced once per world, and the
    moving bodies, ray traced every step. The same images as one :class:`BatchRenderer` of every drawn group.

    Why: ray tracing was 57% of depth PPO's environment step on a CPU (``benchmarks/in_training.py``), and most
    rays of the static depth camera end on the table or the floor, which never move. A camera mounted on the
    world sees the static scene (:data:`~dexgrasp_env.robot.scene.STATIC_GROUP`) the same until its pose or a
    static geom's per-world field changes (randomization, at a reset): so each world's static image is traced
    once and again only when one of those fields has changed (checked on every render), in a batch of
    :data:`STATIC_SLOTS` worlds (or the whole batch, when more changed). Every step traces the moving bodies alone:
    for depth cameras over primitive geoms with :class:`~dexgrasp_env.sim.depth_tracer.TiledDepthTracer` (each
    pixel against the few geoms near its tile), else with ``mujoco_warp.render``.

    Why the images are the same: a pixel's hit is the nearest geom along its ray, which is the nearer of the
    nearest static and the nearest moving geom; its depth and colour depend on that hit alone (no shadows, no
    textures), and both renders trace the same rays of the same camera poses in float32. A depth of 0 means no
    hit. (At an exact tie the moving geom's colour wins, which one full render might not pick.)
    """

    def __init__(self, batch: WarpBatch, cameras: tuple[str, ...], resolution: tuple[tuple[int, int], ...]):
        m, n = batch.mjm, batch.num_worlds
        static = (m.geom_group == STATIC_GROUP) & (m.body_weldid[m.geom_bodyid] == 0) & (
            m.body_mocapid[m.geom_bodyid] < 0)
        moved = np.flatnonzero((m.geom_group == STATIC_GROUP) & ~static)
        if moved.size:
            raise ValueError(f"geoms {moved.tolist()} are in the static group {STATIC_GROUP} but move")
        self.batch, self.cameras = batch, cameras
        moving = tuple(g for g in DRAWN_GROUPS if g != STATIC_GROUP)
        self.moving = BatchRenderer(batch, cameras, resolution, moving, all_depth=True)
        # depth cameras over primitives: the moving bodies traced tile by tile, the same images in less time
        self.tracer = (TiledDepthTracer(self.moving)
                       if TiledDepthTracer.supports(m, cameras, DEPTH_KEYS, moving) else None)
        self.scene = BatchRenderer(batch, cameras, resolution, (STATIC_GROUP,), all_depth=True)
        self.slots = WarpBatch(m, min(STATIC_SLOTS, n), batch.device, nconmax=1, njmax=1)
        self.slot_scene = BatchRenderer(self.slots, cameras, resolution, (STATIC_GROUP,), all_depth=True)
        cams = torch.as_tensor([m.camera(c).id for c in cameras])
        rows = {"geom": torch.as_tensor(np.flatnonzero(static)), "cam": cams, "light": torch.arange(m.nlight)}
        # the per-world fields the static images depend on: the static geoms', the cameras', the lights'
        self._key_fields = tuple((name, rows[name.split("_")[0]]) for name in BATCHED_FIELDS
                                 if name.split("_")[0] in rows)
        self._seen: torch.Tensor | None = None
        self.background = {c: v.clone() for c, v in self.scene.views.items() if c not in DEPTH_KEYS}  # colour
        self.background_depth = {c: v.clone() for c, v in self.scene.depths.items()}
        self._out = {c: v.clone() for c, v in self.moving.views.items()}

    @property
    def launched(self) -> bool:
        return self.moving.launched

    def render(self) -> dict[str, torch.Tensor]:
        self.launch()
        return self.images()

    def launch(self) -> None:
        """The moving bodies' ray tracing (Warp launches only: the C backend runs it on its render threads)."""
        (self.tracer or self.moving).launch()

    def images(self) -> dict[str, torch.Tensor]:
        """The images of the last :meth:`launch`, with the static images of worlds whose fields changed traced
        first (on the calling thread). The tensors are this renderer's, overwritten by the next call."""
        self._update_static()
        out = {}
        for cam, near in self.moving.depths.items():
            far = self.background_depth[cam]
            front = (near > 0) & ((far == 0) | (near < far))
            if cam in DEPTH_KEYS:
                out[cam] = torch.where(front, near, far, out=self._out[cam])
            else:
                out[cam] = torch.where(front[..., None], self.moving.views[cam], self.background[cam],
                                       out=self._out[cam])[..., [2, 1, 0]]
        return out

    def _update_static(self) -> None:
        fields = self.batch.fields
        key = torch.cat([fields[name][:, rows].flatten(1).float() for name, rows in self._key_fields], dim=1)
        changed = torch.ones(len(key), dtype=torch.bool) if self._seen is None else (key != self._seen).any(1)
        worlds = changed.nonzero()[:, 0]
        if len(worlds) > self.slots.num_worlds:  # the whole batch (its kinematics are the moving render's)
            self.scene.launch()
            self._keep(self.scene, worlds, worlds)
        elif len(worlds):
            for name, field in self.slots.fields.items():
                field[: len(worlds)] = fields[name][worlds]
            self.slots.kinematics()
            self.slot_scene.launch()
            self._keep(self.slot_scene, torch.arange(len(worlds)), worlds)
        self._seen = key

    def _keep(self, rig: BatchRenderer, rows: torch.Tensor, worlds: torch.Tensor) -> None:
        for cam in self.cameras:
            self.background_depth[cam][worlds] = rig.depths[cam][rows]
            if cam not in DEPTH_KEYS:
                self.background[cam][worlds] = rig.views[cam][rows]


def viewer_renderer(batch: WarpBatch, width: int, height: int) -> BatchRenderer:
    """The person's view (goal marker included) of every world of ``batch``."""
    return batch.renderer((VIEWER_CAMERA,), ((width, height),), groups=(*DRAWN_GROUPS, GOAL_GROUP))


def viewer_frames(batch: WarpBatch, width: int, height: int) -> torch.Tensor:
    """The person's view of every world of ``batch``: ``(N, H, W, 3)`` uint8."""
    return viewer_renderer(batch, width, height).render()[VIEWER_CAMERA]


class WarpSim(Simulator):
    """The worlds as one batched MuJoCo Warp model (see :class:`~dexgrasp_env.sim.base.Simulator`).

    On CUDA the physics steps of a control step run as one captured graph.

    Args:
        cfg, num_worlds, device, cameras: As :class:`~dexgrasp_env.sim.base.Simulator`.
        nconmax: Contacts allocated per world.
        njmax: Constraint rows allocated per world.
    """

    backend = "warp"

    def __init__(self, cfg: EnvConfig, num_worlds: int, device: str | torch.device = "cpu", *,
                 cameras: tuple[str, ...] = (), nconmax: int = 64, njmax: int = 192) -> None:
        super().__init__(cfg, num_worlds, device, cameras=cameras)
        n = self.num_worlds
        self.batch = WarpBatch(self.mjm, n, self.device, nconmax=nconmax, njmax=njmax)
        self.model, self.data = self.batch.model, self.batch.data
        t, d = wp.to_torch, self.data
        self.qpos, self.qvel, self.ctrl = t(d.qpos), t(d.qvel), t(d.ctrl)
        self.mocap_pos = t(d.mocap_pos)
        self.site_xpos = t(d.site_xpos)
        self._xquat = t(d.xquat)
        self.arm_axis, self.arm_anchor = t(d.xaxis)[:, self.arm_joints], t(d.xanchor)[:, self.arm_joints]
        self._site_body = torch.as_tensor(self.mjm.site_bodyid, device=self.device, dtype=torch.int64)
        self._site_quat = torch.as_tensor(self.mjm.site_quat, device=self.device, dtype=torch.float32)
        self.site_xquat = torch.zeros(n, self.mjm.nsite, 4, device=self.device)
        self._warmstart, self._xfrc, self._time = t(d.qacc_warmstart), t(d.xfrc_applied), t(d.time)
        self.fields = self.batch.fields
        self.defaults = {name: view[0].clone() for name, view in self.fields.items()}
        self._make_views()
        self._rig = (self.batch.renderer(self.cameras, self.camera_sizes, layered=cfg.render_static_once)
                     if cameras else None)
        self._graph = None
        self._at = None  # the scratch data of arm_frames
        with self.batch.scoped():
            mjw.reset_data(self.model, self.data)
        self.forward()

    def _frames(self) -> None:
        self.site_xquat.copy_(quat_mul(self._xquat[:, self._site_body], self._site_quat))

    def _clear_dynamics(self, mask: torch.Tensor) -> None:
        m1 = mask.unsqueeze(1)
        self._warmstart.copy_(torch.where(m1, torch.zeros_like(self._warmstart), self._warmstart))
        self._xfrc.copy_(torch.where(m1.unsqueeze(-1), torch.zeros_like(self._xfrc), self._xfrc))
        self._time.copy_(torch.where(mask, torch.zeros_like(self._time), self._time))

    def forward(self) -> None:
        self.batch.kinematics()
        self._frames()

    def arm_frames(self, arm_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._at is None:
            with self.batch.scoped():
                data = mjw.make_data(self.mjm, nworld=self.num_worlds, nconmax=1, njmax=1)
            t = wp.to_torch
            self._at = (data, t(data.qpos), (t(data.site_xpos)[:, self.palm_site], t(data.xaxis)[:, self.arm_joints],
                                              t(data.xanchor)[:, self.arm_joints]))
        data, qpos, views = self._at
        qpos.copy_(self.qpos)
        qpos[:, self.arm_qpos] = arm_q
        with self.batch.scoped():
            mjw.kinematics(self.model, data)
        return views

    def _substeps(self) -> None:
        for _ in range(self.cfg.decimation):
            mjw.step(self.model, self.data)
        mjw.kinematics(self.model, self.data)
        mjw.camlight(self.model, self.data)

    def step(self) -> None:
        with self.batch.scoped():
            if self.device.type == "cuda":
                if self._graph is None:
                    with wp.ScopedCapture(device=self.batch.wp_device, stream=self.batch.stream) as capture:
                        self._substeps()
                    self._graph = capture.graph
                wp.capture_launch(self._graph, stream=self.batch.stream)
            else:
                self._substeps()
        self._frames()

    def render(self) -> dict[str, torch.Tensor]:
        if self._rig is None:
            raise RuntimeError("this simulator was built without cameras")
        return self._rig.render()

    def render_viewer(self, width: int = 320, height: int = 240) -> torch.Tensor:
        return viewer_frames(self.batch, width, height)

    def contact_overflow(self) -> bool:
        """Whether the last step dropped contacts for lack of room (host sync)."""
        return int(self.data.nacon.numpy()[0]) >= self.data.naconmax

    def memory_bytes(self) -> int:
        return self.batch.memory_bytes() + self.site_xquat.nbytes
