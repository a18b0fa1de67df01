"""Named sensors: each renders with its own configuration, and the wrist camera moves with the palm."""

import dataclasses

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

from dexgrasp_env.config import RandomizationConfig, make_env_config
from dexgrasp_env.robot import objects
from dexgrasp_env.robot.scene import build_spec, look_at_quat
from dexgrasp_env.sensors import IMAGE_KEYS, SENSORS, CameraConfig
from dexgrasp_env.spaces import key_spaces
from dexgrasp_env.task import GraspTask
from tests.conftest import BACKENDS


def test_every_sensor_has_a_camera_per_key_and_a_space():
    cfg = make_env_config("state", extra_obs=IMAGE_KEYS)
    model = build_spec(cfg).compile()
    spaces = key_spaces(cfg)
    for sensor in SENSORS:
        cam = getattr(cfg.sensors, sensor.name)
        for key in sensor.keys:
            assert model.camera(key).fovy == pytest.approx(cam.fovy)
            assert spaces[key].shape[1:] == (cam.height, cam.width)


def test_sensors_render_each_at_its_own_size_in_one_step():
    """A 16x16 depth teacher beside 24x20 stereo students and a 12x12 wrist camera, all from one world."""
    cfg = make_env_config("stereo_rgb", extra_obs=("depth", "wrist_depth"), randomization=RandomizationConfig.none(),
                          sensors=dict(depth=dict(width=16, height=16, fovy=30.0), stereo=dict(width=24, height=20),
                                       wrist=dict(width=12, height=12)))
    task = GraspTask(cfg, 2, "cpu", autoreset_mode="disabled")
    obs = task.reset(seed=0)
    assert obs["depth"].shape == (2, 1, 16, 16) and obs["left"].shape == (2, 3, 20, 24)
    assert obs["wrist_depth"].shape == (2, 1, 12, 12)
    near, far = cfg.sensors.wrist.depth_range
    assert obs["wrist_depth"].min() >= near and obs["wrist_depth"].max() <= far
    task.close()


def test_plain_data_configures_a_sensor_through_gym_make():
    env = gym.make("DexGrasp-Depth-v0", camera=dict(width=16, height=12, fovy=30))
    assert env.observation_space["depth"].shape == (1, 12, 16)
    cfg = env.unwrapped.cfg
    assert cfg.sensors.depth.fovy == 30 and cfg.sensors.depth.target == CameraConfig().target
    assert cfg.sensors.stereo == CameraConfig()  # a sensor the env does not render keeps its default
    env.close()
    env = gym.make("DexGrasp-StereoRGB-v0", sensors=dict(stereo=dict(width=20, height=16)))
    assert env.observation_space["left"].shape == (3, 16, 20)
    env.close()
    with pytest.raises(ValueError, match="no field 'widht'"):
        make_env_config("depth", camera=dict(widht=16))
    with pytest.raises(ValueError, match="mount='hand'"):
        make_env_config("wrist_depth", camera=dict(mount="hand"))


# ------------------------------------------------------------------------------------------------
# the wrist camera
# ------------------------------------------------------------------------------------------------
WRIST = dict(width=24, height=24)


@pytest.fixture(scope="module")
def wrist_tasks():
    """One world per backend: the large cube, nominal physics, the wrist camera at 24x24."""
    cfg = make_env_config("wrist_depth", camera=WRIST, randomization=RandomizationConfig.none(),
                          shapes=("cube_large",), arm_start_noise=0.0)
    tasks = {b: GraspTask(dataclasses.replace(cfg, backend=b), 1, "cpu", autoreset_mode="disabled")
             for b in BACKENDS}
    yield tasks
    for t in tasks.values():
        t.close()


def _raycast_depth(task, cam: CameraConfig) -> tuple[np.ndarray, np.ndarray]:
    """Planar depth of every pixel by ``mj_ray`` on an independent C model of the world's current state, the
    camera placed from the palm's frame and the sensor's configured pose; and the camera's world position."""
    spec = build_spec(task.cfg)
    for k, kind in enumerate(objects.KINDS):
        spec.geom(f"object_{kind}").size = (task.object_size[0].tolist() if k == int(task.object_kind[0])
                                            else (objects.HIDDEN_SIZE,) * 3)
    model = spec.compile()
    data = mujoco.MjData(model)
    data.qpos[:] = task.sim.qpos[0].double().numpy()
    data.mocap_pos[:] = task.sim.mocap_pos[0].double().numpy()
    mujoco.mj_forward(model, data)
    palm = model.body("palm").id
    palm_mat = data.xmat[palm].reshape(3, 3)
    local = np.zeros(9)
    mujoco.mju_quat2Mat(local, look_at_quat(cam.position, cam.target))
    cam_mat = palm_mat @ local.reshape(3, 3)
    cam_pos = data.xpos[palm] + palm_mat @ np.asarray(cam.position)
    f = 0.5 * cam.height / np.tan(np.radians(cam.fovy) / 2)
    out = np.zeros((cam.height, cam.width))
    geomid = np.zeros(1, dtype=np.int32)
    for r in range(cam.height):
        for c in range(cam.width):
            local_dir = np.array([(c + 0.5 - cam.width / 2) / f, -(r + 0.5 - cam.height / 2) / f, -1.0])
            direction = cam_mat @ (local_dir / np.linalg.norm(local_dir))
            dist = mujoco.mj_ray(model, data, cam_pos, direction, np.array([1, 1, 1, 0, 0, 0], np.uint8), 1, -1,
                                 geomid)
            out[r, c] = dist * (local_dir / np.linalg.norm(local_dir))[2] * -1.0 if dist >= 0 else np.inf
    near, far = cam.depth_range
    return np.clip(out, near, far), cam_pos


def test_wrist_camera_moves_with_the_palm(wrist_tasks):
    """The rendered wrist depth equals rays cast from the palm's *current* frame, before and after the palm
    moves 6 cm up (a camera fixed in the world would miss by centimetres after the motion)."""
    task = wrist_tasks["mujoco"]
    cam = task.cfg.sensors.wrist
    obs = task.reset(seed=1)
    palm_before = task.sim.palm_pos[0].clone()
    seen = []
    for _ in range(2):
        rendered = obs["wrist_depth"][0, 0].numpy().copy()
        expected, cam_pos = _raycast_depth(task, cam)
        diff = np.abs(rendered - expected)
        assert np.median(diff) < 1e-3 and (diff < 5e-3).mean() > 0.95, (np.median(diff), (diff < 5e-3).mean())
        seen.append((rendered, cam_pos))
        up = torch.zeros(1, task.action_dim)
        up[0, 2] = 1.0  # palm_synergy: +z at 1.5 cm a step
        for _ in range(10):
            obs = task.step(up)[0]
        if not seen[1:]:
            rise = (task.sim.palm_pos[0] - palm_before).numpy()
    assert rise[2] > 0.05
    assert np.linalg.norm(seen[1][1] - seen[0][1]) > 0.05  # the camera moved with the palm
    assert np.abs(seen[1][0] - seen[0][0]).mean() > 0.02  # and so did its image


def test_wrist_camera_agrees_across_backends(wrist_tasks):
    """C MuJoCo and MuJoCo Warp, same world and actions: the wrist depth agrees within 1 mm, at the start and
    after the palm has moved and the fingers closed (the two physics agree to a fraction of a millimetre then;
    the first steps after a reset, while the object settles, differ by up to 1 mm in position)."""
    images = {}
    for backend, task in wrist_tasks.items():
        obs = task.reset(seed=2)
        frames = [obs["wrist_depth"].clone()]
        act = torch.zeros(1, task.action_dim)
        act[0, 0], act[0, 6] = 0.5, 1.0  # the palm moves along x, the fingers close
        for _ in range(6):
            obs = task.step(act)[0]
        frames.append(obs["wrist_depth"].clone())
        images[backend] = torch.stack(frames)
    diff = (images["mujoco"] - images["warp"]).abs()
    assert diff.max() < 1e-3, diff.max()
    assert (images["mujoco"][-1] - images["mujoco"][0]).abs().mean() > 0.005  # the view changed meanwhile
