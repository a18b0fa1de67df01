"""The robot model against the reference kinematic facts, and the scene around it."""

import mujoco
import numpy as np
import pytest
import torch

from dexgrasp_env.config import make_env_config
from dexgrasp_env.robot import kuka_allegro as ka
from dexgrasp_env.robot.scene import ARM_HOME, HAND_HOME, build_model, camera_poses

# The reference's joint ranges (rad), typed here independently of the model's own tables.
REFERENCE_RANGES = [
    (-2.9671, 2.9671), (-2.0944, 2.0944), (-2.9671, 2.9671), (-2.0944, 2.0944), (-2.9671, 2.9671),
    (-2.0944, 2.0944), (-3.0543, 3.0543),
    *[(-0.47, 0.47), (-0.196, 1.61), (-0.174, 1.709), (-0.227, 1.618)] * 3,
    (0.263, 1.396), (-0.105, 1.163), (-0.189, 1.644), (-0.162, 1.719),
]
REFERENCE_ARM_MASSES = [5.76, 6.35, 3.5, 3.5, 3.5, 1.8, 1.2]


@pytest.fixture(scope="module")
def model():
    return build_model(make_env_config())


def test_flange_height_at_zero_is_sum_of_link_offsets(model):
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    data.qpos[:23] = 0.0
    mujoco.mj_kinematics(model, data)
    flange = data.site_xpos[model.site("flange").id]
    assert flange[2] == pytest.approx(1.306, abs=1e-6)
    assert np.abs(flange[:2]).max() < 1e-9
    assert ka.FLANGE_HEIGHT_AT_ZERO == pytest.approx(1.306)


def test_joint_ranges_match_reference(model):
    names = [model.joint(i).name for i in range(23)]
    assert names == list(ka.JOINTS)
    np.testing.assert_allclose(model.jnt_range[:23], np.array(REFERENCE_RANGES), atol=1e-3)
    assert model.jnt_limited[:23].all()


def test_joint_axes_and_masses(model):
    arm_axes = model.jnt_axis[:7]
    np.testing.assert_allclose(arm_axes, np.tile([0, 0, 1], (7, 1)))
    masses = [model.body_mass[model.body(f"link{i}").id] for i in range(1, 8)]
    np.testing.assert_allclose(masses, REFERENCE_ARM_MASSES)
    assert model.body_mass[model.body("palm").id] == pytest.approx(0.3514)


def test_position_servos_on_all_joints(model):
    assert model.nu == 23
    for i in range(23):
        assert model.actuator_trnid[i, 0] == i  # actuator i drives joint i
        assert model.actuator_gainprm[i, 0] > 0 and model.actuator_biasprm[i, 1] == -model.actuator_gainprm[i, 0]
        np.testing.assert_allclose(model.actuator_ctrlrange[i], model.jnt_range[i])
    np.testing.assert_allclose(model.actuator_forcerange[:7, 1], ka.ARM_TORQUE_LIMITS)


def test_collision_geometry_is_primitive(model):
    primitives = {mujoco.mjtGeom.mjGEOM_PLANE, mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_CAPSULE,
                  mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_BOX}
    assert set(model.geom_type.tolist()) <= {int(p) for p in primitives}
    assert model.nmesh == 0


def test_camera_rig_stereo_baseline_and_aim():
    cfg = make_env_config("stereo_rgb")
    poses = camera_poses(cfg)
    left, right = poses["left"][0], poses["right"][0]
    assert np.linalg.norm(left - right) == pytest.approx(0.06)
    for name in ("depth", "left", "right"):
        pos, quat = poses[name]
        mat = np.zeros(9)
        mujoco.mju_quat2Mat(mat, quat)
        forward = -mat.reshape(3, 3)[:, 2]
        to_target = np.asarray(cfg.sensors.depth.target) - pos
        cos = forward @ to_target / np.linalg.norm(to_target)
        assert cos > 0.99
        assert 0.5 < np.linalg.norm(to_target) < 1.5  # the workspace sits in the depth range


def test_servos_hold_the_arm_against_gravity(state_task):
    """With zero actions the arm stays at its start pose (gravity compensated, stiff servos)."""
    task = state_task
    task.reset(seed=0)
    start = task.sim.qpos[:, :7].clone()
    for _ in range(120):  # 2 s
        task.step(torch.zeros(task.num_envs, task.action_dim))
    assert (task.sim.qpos[:, :7] - start).abs().max() < 0.02
    palm = task.sim.site_xpos[:, task.sim.palm_site]
    assert (palm[:, 2] > 0.15).all()


def test_home_pose_is_within_limits():
    q = np.array(ARM_HOME + HAND_HOME)
    ranges = np.array(REFERENCE_RANGES)
    assert ((q >= ranges[:, 0]) & (q <= ranges[:, 1])).all()
