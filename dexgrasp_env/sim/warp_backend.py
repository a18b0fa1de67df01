"""MuJoCo Warp: the whole batch of worlds as one model on one Warp device (the CUDA path).

:class:`WarpBatch` owns a batched ``mujoco_warp`` model and data with zero-copy torch views and
the batch ray tracer; :class:`WarpSim` steps it (as one captured graph on CUDA). The C backend
uses a :class:`WarpBatch` too, but only to render its worlds' images.
"""

from __future__ import annotations

import torch
import warp as wp

wp.config.quiet = True
if hasattr(wp, "LOG_WARNING"):  # warp >= 1.12 logs kernel loads at INFO
    wp.config.log_level = wp.LOG_WARNING

import mujoco  # noqa: E402
import mujoco_warp as mjw  # noqa: E402  (warp must be quiet before mujoco_warp initialises it)

from dexgrasp_env.config import EnvConfig  # noqa: E402
from dexgrasp_env.devices import warp_device_name  # noqa: E402
from dexgrasp_env.robot.scene import GOAL_GROUP  # noqa: E402
from dexgrasp_env.rotations import quat_mul  # noqa: E402
from dexgrasp_env.sensors import DEPTH_KEYS, RGB_KEYS, VIEWER_CAMERA  # noqa: E402
from dexgrasp_env.sim.base import BATCHED_FIELDS, Simulator  # noqa: E402


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
                 groups=(0, 1, 2)) -> BatchRenderer:
        """The (cached) render context of these cameras, each at its ``(width, height)``."""
        resolution = tuple(tuple(r) for r in resolution)
        key = (tuple(cameras), resolution, tuple(groups))
        if key not in self._renderers:
            self._renderers[key] = BatchRenderer(self, cameras, resolution, groups)
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

        return sum(walk(obj) for obj in (self.model, self.data, *(r.rc for r in self._renderers.values())))


class BatchRenderer:
    """One batch render context (a set of cameras, each at its own resolution) and views of its outputs."""

    def __init__(self, batch: WarpBatch, cameras: tuple[str, ...], resolution: tuple[tuple[int, int], ...],
                 groups=(0, 1, 2)):
        self.batch, self.cameras, self.resolution = batch, cameras, resolution
        self.launched = False  # mujoco_warp builds this context's ray-tracing kernel on its first render
        with batch.scoped():
            self.rc = mjw.create_render_context(
                batch.mjm, nworld=batch.num_worlds, cam_res=list(resolution), cam_active=list(cameras),
                render_rgb=[c in RGB_KEYS or c == VIEWER_CAMERA for c in cameras],
                render_depth=[c in DEPTH_KEYS for c in cameras],
                use_textures=False, use_shadows=False, enabled_geom_groups=list(groups),
                background_color=(0.45, 0.5, 0.55, 1.0),
            )
        n = batch.num_worlds
        depth, rgb = wp.to_torch(self.rc.depth_data), wp.to_torch(self.rc.rgb_data)
        self.views = {}
        for i, (cam, (w, h)) in enumerate(zip(cameras, resolution)):
            d_adr, c_adr = int(self.rc.depth_adr.numpy()[i]), int(self.rc.rgb_adr.numpy()[i])
            if d_adr >= 0:
                self.views[cam] = depth[:, d_adr : d_adr + w * h].view(n, h, w)
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


def viewer_renderer(batch: WarpBatch, width: int, height: int) -> BatchRenderer:
    """The person's view (goal marker included) of every world of ``batch``."""
    return batch.renderer((VIEWER_CAMERA,), ((width, height),), groups=(0, 1, 2, GOAL_GROUP))


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
        self._rig = self.batch.renderer(self.cameras, self.camera_sizes) if cameras else None
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
