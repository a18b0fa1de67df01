"""A batch of MuJoCo Warp worlds on one device, seen through torch tensors.

:class:`BatchedSim` owns the Warp model and data of ``num_worlds`` copies of the task scene on
``"cpu"`` or ``"cuda:<k>"``, exposes their state and their per-world model fields as torch views
(zero copy: writing a view writes the simulator), advances them by one control step, and renders
the camera rig with the batch ray-tracer. It knows nothing of rewards or episodes; the task layer
(:mod:`dexgrasp_env.task`) does.
"""

from __future__ import annotations

import torch
import warp as wp

wp.config.quiet = True
if hasattr(wp, "LOG_WARNING"):  # warp >= 1.12 logs kernel loads at INFO
    wp.config.log_level = wp.LOG_WARNING

import mujoco_warp as mjw  # noqa: E402  (warp must be quiet before mujoco_warp initialises it)

from dexgrasp_env.config import EnvConfig  # noqa: E402
from dexgrasp_env.devices import resolve_device, warp_device_name  # noqa: E402
from dexgrasp_env.robot import kuka_allegro as ka  # noqa: E402
from dexgrasp_env.robot.objects import KINDS  # noqa: E402
from dexgrasp_env.robot.scene import GOAL_GROUP, build_model  # noqa: E402

#: Model fields that differ between worlds (randomization and per-world object shapes).
BATCHED_FIELDS = (
    "geom_size", "geom_aabb", "geom_rbound", "geom_friction", "geom_rgba",
    "body_mass", "body_subtreemass", "body_inertia", "body_invweight0", "dof_invweight0",
    "actuator_gainprm", "actuator_biasprm", "cam_pos", "cam_quat", "light_diffuse",
)
POLICY_CAMERAS = ("depth", "left", "right")
VIEWER_CAMERA = "overview"


class BatchedSim:
    """``num_worlds`` copies of the scene on one device.

    Args:
        cfg: The task config (physics rates, servo gains, camera rig and resolution).
        num_worlds: Number of worlds.
        device: ``"cpu"`` or ``"cuda:<k>"``.
        cameras: Which of ``("depth", "left", "right")`` to render in :meth:`render`.
        nconmax: Contacts allocated per world.
        njmax: Constraint rows allocated per world.

    Attributes:
        qpos, qvel, ctrl: ``(N, nq)``, ``(N, nv)``, ``(N, nu)`` state and control views.
        site_xpos: ``(N, nsite, 3)`` site positions (palm, fingertips, flange).
        site_xmat: ``(N, nsite, 3, 3)`` site orientations.
        xquat: ``(N, nbody, 4)`` body orientations.
        qacc_warmstart: ``(N, nv)`` the solver's warm start (cleared on reset).
        mocap_pos: ``(N, 1, 3)`` position of the goal marker.
        fields: per-world model fields by name (see :data:`BATCHED_FIELDS`), each ``(N, ...)``.
    """

    def __init__(
        self,
        cfg: EnvConfig,
        num_worlds: int,
        device: str | torch.device = "cpu",
        *,
        cameras: tuple[str, ...] = (),
        nconmax: int = 64,
        njmax: int = 192,
    ) -> None:
        if int(num_worlds) != num_worlds or num_worlds < 1:
            raise ValueError(f"num_worlds={num_worlds!r} must be a positive integer")
        unknown = [c for c in cameras if c not in POLICY_CAMERAS]
        if unknown:
            raise ValueError(f"unknown cameras {unknown}; expected some of {POLICY_CAMERAS}")
        self.cfg = cfg
        self.num_worlds = int(num_worlds)
        self.device = resolve_device(device)
        self.wp_device = wp.get_device(warp_device_name(self.device))
        self.mjm = build_model(cfg)
        self._ids()
        n = self.num_worlds
        # At least two rows per batched field, so that one world and many worlds share the
        # same compiled kernels (mujoco_warp specialises on "batched or not").
        rows = max(n, 2)
        with wp.ScopedDevice(self.wp_device):
            self.model = mjw.put_model(self.mjm, batch_sizes={f: rows for f in BATCHED_FIELDS})
            # a line search that stops at its limit keeps its best step; that is no overflow worth a
            # print every few steps (contact and constraint overflows still warn)
            self.model.opt.warn_overflow &= ~mjw.OverflowType.LS_ITERATIONS
            self.data = mjw.make_data(self.mjm, nworld=n, nconmax=nconmax, njmax=njmax)
        self._stream = None
        if self.device.type == "cuda":
            self._stream = wp.stream_from_torch(torch.cuda.current_stream(self.device))
        t = wp.to_torch
        d = self.data
        self.qpos, self.qvel, self.ctrl = t(d.qpos), t(d.qvel), t(d.ctrl)
        self.site_xpos, self.site_xmat = t(d.site_xpos), t(d.site_xmat).view(n, -1, 3, 3)
        self.xquat = t(d.xquat)
        self.qacc_warmstart = t(d.qacc_warmstart)
        self.mocap_pos = t(d.mocap_pos)
        self.xfrc_applied = t(d.xfrc_applied)
        self.time = t(d.time)
        self.fields = {name: t(getattr(self.model, name))[:n] for name in BATCHED_FIELDS}
        self.defaults = {name: view[0].clone() for name, view in self.fields.items()}
        self.cameras = tuple(cameras)
        self._rig = _Renderer(self, self.cameras, (cfg.camera.width, cfg.camera.height)) if cameras else None
        self._viewer: _Renderer | None = None
        self._graph = None
        self.reset_all_to_defaults()

    # ------------------------------------------------------------------------------------------
    def _ids(self) -> None:
        m = self.mjm
        if m.nq != 30 or m.nv != 29 or m.nu != 23:
            raise RuntimeError(f"unexpected model sizes nq={m.nq} nv={m.nv} nu={m.nu}")
        self.robot_qpos = slice(0, 23)
        self.object_qpos = slice(23, 30)
        self.object_qvel = slice(23, 29)
        self.object_body = m.body("object").id
        self.object_geoms = torch.tensor([m.geom(f"object_{k}").id for k in KINDS])
        self.palm_site = m.site("palm").id
        self.palm_body = int(m.site_bodyid[self.palm_site])
        self.fingertip_sites = torch.tensor([m.site(name).id for name, _ in ka.FINGERTIPS])
        self.camera_ids = {name: m.camera(name).id for name in POLICY_CAMERAS + (VIEWER_CAMERA,)}
        self.table_geom = m.geom("table").id
        self.joint_range = torch.tensor(m.jnt_range[:23], dtype=torch.float32)
        self.robot_geoms = torch.tensor([g for g in range(m.ngeom) if m.geom_bodyid[g] not in (0, self.object_body)
                                         and m.body_mocapid[m.geom_bodyid[g]] < 0])

    def _scoped(self):
        return wp.ScopedStream(self._stream) if self._stream is not None else wp.ScopedDevice(self.wp_device)

    # ------------------------------------------------------------------------------------------
    def reset_all_to_defaults(self) -> None:
        """Put every world at the model's default state (``qpos0``, zero velocity)."""
        with self._scoped():
            mjw.reset_data(self.model, self.data)
        self.forward()

    def forward(self) -> None:
        """Recompute positions (bodies, sites, geoms, cameras) from ``qpos``.

        Deterministic in ``qpos``: worlds whose state did not change get bit-identical results.
        """
        with self._scoped():
            mjw.kinematics(self.model, self.data)
            mjw.camlight(self.model, self.data)

    def _substeps(self) -> None:
        for _ in range(self.cfg.decimation):
            mjw.step(self.model, self.data)
        mjw.kinematics(self.model, self.data)
        mjw.camlight(self.model, self.data)

    def step(self) -> None:
        """Advance every world by one control step (``decimation`` physics steps).

        Afterwards positions are those of the new state. On CUDA the steps run as a captured graph.
        """
        with self._scoped():
            if self.device.type == "cuda":
                if self._graph is None:
                    with wp.ScopedCapture(device=self.wp_device, stream=self._stream) as capture:
                        self._substeps()
                    self._graph = capture.graph
                wp.capture_launch(self._graph, stream=self._stream)
            else:
                self._substeps()

    # ------------------------------------------------------------------------------------------
    def render(self) -> dict[str, torch.Tensor]:
        """Render the policy cameras of every world.

        Returns:
            ``{"depth": (N, H, W) float32}`` planar depth in metres (0 where the ray hits nothing),
            ``{"left"/"right": (N, H, W, 3) uint8}`` colour images, for the cameras asked for.
            The tensors are views of the renderer's buffers, overwritten by the next render.
        """
        if self._rig is None:
            raise RuntimeError("this simulator was built without cameras")
        return self._rig.render()

    def render_viewer(self, width: int = 320, height: int = 240) -> torch.Tensor:
        """A person's view of every world (goal marker included): ``(N, H, W, 3)`` uint8."""
        if self._viewer is None or self._viewer.resolution != (width, height):
            self._viewer = _Renderer(self, (VIEWER_CAMERA,), (width, height), groups=(0, 1, 2, GOAL_GROUP))
        return self._viewer.render()[VIEWER_CAMERA]

    # ------------------------------------------------------------------------------------------
    def contact_overflow(self) -> bool:
        """Whether the last step dropped contacts or constraints for lack of room (host sync)."""
        nacon = int(self.data.nacon.numpy()[0])
        return nacon >= self.data.naconmax

    def memory_bytes(self) -> int:
        """Bytes held by this simulator's Warp arrays (model, data, render contexts), nested ones included."""
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

        return sum(walk(obj) for obj in (self.model, self.data, self._rig and self._rig.rc,
                                         self._viewer and self._viewer.rc))

class _Renderer:
    """One batch render context (a set of cameras at one resolution) and views of its outputs."""

    def __init__(self, sim: BatchedSim, cameras: tuple[str, ...], resolution: tuple[int, int], groups=(0, 1, 2)):
        self.sim, self.cameras, self.resolution = sim, cameras, resolution
        with sim._scoped():
            self.rc = mjw.create_render_context(
                sim.mjm, nworld=sim.num_worlds, cam_res=resolution, cam_active=list(cameras),
                render_rgb=[c != "depth" for c in cameras], render_depth=[c == "depth" for c in cameras],
                use_textures=False, use_shadows=False, enabled_geom_groups=list(groups),
                background_color=(0.45, 0.5, 0.55, 1.0),
            )
        n, (w, h) = sim.num_worlds, resolution
        depth, rgb = wp.to_torch(self.rc.depth_data), wp.to_torch(self.rc.rgb_data)
        self.views = {}
        for i, cam in enumerate(cameras):
            d_adr, c_adr = int(self.rc.depth_adr.numpy()[i]), int(self.rc.rgb_adr.numpy()[i])
            if d_adr >= 0:
                self.views[cam] = depth[:, d_adr : d_adr + w * h].view(n, h, w)
            if c_adr >= 0:  # packed pixels, stored as B, G, R, A bytes
                self.views[cam] = rgb[:, c_adr : c_adr + w * h].view(torch.uint8).view(n, h, w, 4)

    def render(self) -> dict[str, torch.Tensor]:
        sim = self.sim
        with sim._scoped():
            mjw.refit_bvh(sim.model, sim.data, self.rc)
            mjw.render(sim.model, sim.data, self.rc)
        return {cam: v if cam == "depth" else v[..., [2, 1, 0]] for cam, v in self.views.items()}
