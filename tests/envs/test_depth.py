"""Depth and stereo images against independent geometry."""

import math

import mujoco
import numpy as np
import pytest
import torch

from dexgrasp_env.config import CameraConfig, RandomizationConfig
from dexgrasp_env.robot import objects
from dexgrasp_env.robot.scene import build_spec, in_camera_view, project_to_camera
from dexgrasp_env.task import GraspTask
from tests.conftest import small_config


@pytest.fixture(scope="module")
def task():
    cfg = small_config("stereo_rgb", extra_obs=("depth",), randomization=RandomizationConfig.none(),
                       camera=CameraConfig(width=96, height=72), shapes=("cube_large",))
    task = GraspTask(cfg, 1, "cpu", autoreset_mode="disabled")
    obs = task.reset(seed=3)
    return task, obs


def test_depth_at_object_matches_raycast(task):
    task, obs = task
    cfg = task.cfg
    # an independent C model of this world: same object size, same state
    spec = build_spec(cfg)
    for k, kind in enumerate(objects.KINDS):
        spec.geom(f"object_{kind}").size = (task.object_size[0].tolist() if k == int(task.object_kind[0])
                                            else (objects.HIDDEN_SIZE,) * 3)
    model = spec.compile()
    data = mujoco.MjData(model)
    data.qpos[:] = task.sim.qpos[0].numpy()
    mujoco.mj_forward(model, data)
    cam = model.camera("depth").id
    cam_pos, cam_mat = data.cam_xpos[cam].copy(), data.cam_xmat[cam].reshape(3, 3).copy()
    centre = data.qpos[23:26].copy()
    # the package's projection (nominal rig, from the config) lands the object's centre in this pixel
    (col, row), = project_to_camera(cfg, centre[None])[0]
    assert in_camera_view(cfg, centre[None])[0]
    c, r = int(col), int(row)
    cam = cfg.sensors.depth
    f = 0.5 * cam.height / math.tan(math.radians(cam.fovy) / 2)
    # any world point (the goal box's corners, in view or not): the compiled camera's ray through the projected
    # pixel points at it, and the projected depth is its depth along the compiled camera's axis
    lo, hi = cfg.goal_low, cfg.goal_high
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    pixels, depths = project_to_camera(cfg, corners)
    for point, (u, v), d in zip(corners, pixels, depths):
        ray = cam_mat @ np.array([(u - cam.width / 2) / f, -(v - cam.height / 2) / f, -1.0])
        np.testing.assert_allclose(ray * d, point - cam_pos, atol=1e-6)
    # the ray through the object's pixel centre, cast on the C model
    local_dir = np.array([(c + 0.5 - cam.width / 2) / f, -(r + 0.5 - cam.height / 2) / f, -1.0])
    direction = cam_mat @ (local_dir / np.linalg.norm(local_dir))
    geomid = np.zeros(1, dtype=np.int32)
    dist = mujoco.mj_ray(model, data, cam_pos, direction, np.array([1, 1, 1, 0, 0, 0], np.uint8), 1, -1, geomid)
    assert model.geom_bodyid[geomid[0]] == model.body("object").id
    planar = dist * (-(cam_mat.T @ direction)[2])
    depth = obs["depth"][0, 0, r, c].item()
    assert abs(depth - planar) < 0.01, (depth, planar)
    near, far = cam.depth_range
    assert obs["depth"].min() >= near and obs["depth"].max() <= far


def _blue_columns(image: torch.Tensor) -> float:
    """Mean column of the object's (blue) pixels in a (3, H, W) uint8 image."""
    rgb = image.float()
    blue = (rgb[2] > rgb[0] + 60) & (rgb[2] > rgb[1] + 20)
    assert blue.sum() > 5
    return blue.nonzero()[:, 1].float().mean().item()


def test_stereo_disparity_sign_and_size(task):
    task, obs = task
    cfg = task.cfg
    left, right = _blue_columns(obs["left"][0]), _blue_columns(obs["right"][0])
    disparity = left - right
    assert disparity > 0  # the object sits further right in the left eye's image
    cam_pos = task.sim.mjm.cam_pos[task.sim.camera_ids["depth"]]
    z = np.linalg.norm(task.sim.qpos[0, 23:26].numpy() - cam_pos)
    cam = cfg.sensors.stereo
    f = 0.5 * cam.height / math.tan(math.radians(cam.fovy) / 2)
    expected = f * cam.stereo_baseline / z
    assert disparity == pytest.approx(expected, rel=0.35)


def test_sharded_render_matches_one_thread():
    """``render_threads``: the C backend's worlds split into Warp copies rendered in parallel give the same
    images (depth, both eyes, the person's view) as one copy, world for world, with worlds of unequal shards."""
    images = {}
    for threads in (1, 3):
        cfg = small_config("stereo_rgb", extra_obs=("depth",), camera=CameraConfig(width=24, height=16),
                           render_threads=threads)
        task = GraspTask(cfg, 7, "cpu", autoreset_mode="disabled")
        task.reset(seed=11)
        gen = torch.Generator().manual_seed(0)
        for _ in range(3):
            obs, *_ = task.step(torch.rand(7, task.action_dim, generator=gen) * 2 - 1)
        assert len(task.sim._shards) == threads
        images[threads] = {**{k: obs[k].clone() for k in ("depth", "left", "right")},
                           "viewer": task.sim.render_viewer(32, 24).clone()}
        task.close()
    for k, ref in images[1].items():
        assert torch.equal(images[3][k], ref), k
    assert not torch.equal(images[1]["depth"][0], images[1]["depth"][6])  # the worlds differ


def test_static_scene_traced_once_gives_the_same_images(backend):
    """``EnvConfig.render_static_once`` (:class:`LayeredRenderer`): the static scene traced once per world and the
    moving bodies every step give the images of tracing every geom every step (depth, both colour eyes), world for
    world, while the robot moves and after the cameras of a few worlds (fewer than ``STATIC_SLOTS``) and of every
    world move, as a reset with camera randomization moves them."""
    from dexgrasp_env.sim.warp_backend import STATIC_SLOTS, LayeredRenderer

    n = STATIC_SLOTS + 3
    runs = {}
    for once in (False, True):
        cfg = small_config("stereo_rgb", extra_obs=("depth",), camera=CameraConfig(width=24, height=16),
                           backend=backend, render_static_once=once, randomization=RandomizationConfig.none())
        task = GraspTask(cfg, n, "cpu", autoreset_mode="disabled")
        task.reset(seed=5)
        sim = task.sim
        rigs = [r for b in getattr(sim, "_mirrors", None) or [sim.batch] for r in b._renderers.values()]
        gen = torch.Generator().manual_seed(0)
        frames = []
        for step in range(5):
            moved = {2: torch.tensor([1, 4]), 3: torch.arange(n)}.get(step)
            if moved is not None:  # every camera of these worlds 2 cm along x, as camera randomization would
                mask = torch.zeros(n, dtype=torch.bool)
                mask[moved] = True
                sim.set_field("cam_pos", mask, sim.fields["cam_pos"] + torch.tensor([0.02, 0.0, 0.0]))
            obs, *_ = task.step(torch.rand(n, task.action_dim, generator=gen) * 2 - 1)
            frames.append({k: obs[k].clone() for k in ("depth", "left", "right")})
        assert all(isinstance(r, LayeredRenderer) for r in rigs) == once and rigs
        runs[once] = frames
        task.close()
    for step, (ref, got) in enumerate(zip(runs[False], runs[True])):
        for k in ref:
            assert torch.equal(got[k], ref[k]), (step, k)
    moved = (runs[True][2]["depth"] != runs[True][1]["depth"]).flatten(1).any(1)
    assert moved[1] and moved[4]  # the moved cameras see another image


def test_moving_bodies_traced_on_tiles_give_the_same_depth():
    """A depth camera over primitive geoms traces its moving bodies with :class:`TiledDepthTracer` (each tile's
    candidate geoms, then each pixel against those alone): the same depth, bit for bit, as ``mujoco_warp.render``
    of every geom, world for world, while the robot moves, the object is held and cameras move."""
    from dexgrasp_env.sim.warp_backend import LayeredRenderer

    n = 6
    runs = {}
    for once in (False, True):
        cfg = small_config("depth", camera=CameraConfig(width=40, height=24, fovy=50.0), render_static_once=once,
                           randomization=RandomizationConfig.none())
        task = GraspTask(cfg, n, "cpu", autoreset_mode="disabled")
        task.reset(seed=2)
        sim = task.sim
        rigs = [r for b in sim._mirrors or () for r in b._renderers.values()] if once else []
        gen = torch.Generator().manual_seed(1)
        frames = []
        for step in range(6):
            if step == 3:  # every camera 3 cm along x and turned, as camera randomization would
                sim.set_field("cam_pos", torch.ones(n, dtype=torch.bool), sim.fields["cam_pos"] + 0.03)
            obs, *_ = task.step(torch.rand(n, task.action_dim, generator=gen) * 2 - 1)
            frames.append(obs["depth"].clone())
        if once:
            assert rigs and all(isinstance(r, LayeredRenderer) and r.tracer is not None for r in rigs)
            assert all((r.moving.depths["depth"] > 0).any() for r in rigs)  # the moving bodies are in view
        runs[once] = frames
        task.close()
    for step, (ref, got) in enumerate(zip(runs[False], runs[True])):
        assert torch.equal(got, ref), step
