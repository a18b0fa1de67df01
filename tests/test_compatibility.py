"""A policy checks the task, not only the shapes: each class of checked field raises, naming itself and both values.

No simulator runs here: the check happens before an environment is made.
"""

import dataclasses

import pytest

import dexgrasp_env
from dexgrasp_env.compatibility import check_task, task_mismatches
from dexgrasp_env.config import replace
from dexgrasp_env.evaluation import run_episodes


@pytest.fixture(scope="module")
def depth_scratch():
    return dexgrasp_env.load_pretrained("depth-scratch")


@pytest.fixture(scope="module")
def state_teacher():
    return dexgrasp_env.load_pretrained("state-teacher")


def test_own_task_passes_and_evaluation_changes_pass(depth_scratch, state_teacher):
    from dexgrasp_env.config import RandomizationConfig

    for policy, cfg in (depth_scratch, state_teacher):
        policy.check_task(cfg)
        varied = dataclasses.replace(cfg, randomization=RandomizationConfig.full(), object_set="ycb",
                                     episode_length_s=10.0, object_assignment="cycle", backend="warp")
        policy.check_task(varied)  # what an evaluation varies is allowed


def test_sensor_pose_depth_scratch_at_the_default_camera(depth_scratch):
    """``depth-scratch`` on a 32x32 depth environment at the default camera: the aim and the field of view differ."""
    policy, _ = depth_scratch
    env_cfg = dexgrasp_env.config.make_env_config("depth", camera=dict(width=32, height=32))
    with pytest.raises(ValueError, match=r"sensors\.depth\.target: trained \(0\.6, 0\.0, 0\.18\), environment "
                                         r"\(0\.6, 0\.0, 0\.05\)") as err:
        run_episodes(policy, env_cfg, 2, seed=0)
    assert "sensors.depth.fovy: trained 30.0, environment 50.0" in str(err.value)
    import gymnasium as gym

    env = gym.make("DexGrasp-Depth-v0", config=env_cfg)  # a user's own loop: the public check on the env
    with pytest.raises(ValueError, match=r"sensors\.depth\.target"):
        policy.check_task(env)
    env.close()


def test_sensor_size_and_range(depth_scratch):
    policy, cfg = depth_scratch
    with pytest.raises(ValueError, match=r"sensors\.depth\.depth_range: trained \(0\.3, 1\.6\), environment "
                                         r"\(0\.3, 1\.2\)"):
        policy.check_task(replace(cfg, sensors=dict(depth=dict(depth_range=(0.3, 1.2)))))
    bad = task_mismatches(cfg, replace(cfg, sensors=dict(depth=dict(width=48))), policy.keys)
    assert [m[0] for m in bad] == ["sensors.depth.width"] and bad[0][1:] == (32, 48)
    # a sensor the policy does not read may differ
    policy.check_task(replace(cfg, sensors=dict(stereo=dict(width=48), wrist=dict(fovy=90.0))))


def test_action_mode_and_scales(state_teacher):
    policy, cfg = state_teacher
    with pytest.raises(ValueError, match="action_mode: trained 'palm_synergy', environment 'joint'"):
        policy.check_task(dataclasses.replace(cfg, action_mode="joint"))
    with pytest.raises(ValueError, match=r"palm\.position_scale: trained 0\.015, environment 0\.03"):
        policy.check_task(replace(cfg, palm=dict(position_scale=0.03)))


def test_control_rate(state_teacher):
    policy, cfg = state_teacher
    with pytest.raises(ValueError, match="decimation: trained 2, environment 4"):
        policy.check_task(dataclasses.replace(cfg, decimation=4))
    with pytest.raises(ValueError, match="physics_dt: trained"):
        policy.check_task(dataclasses.replace(cfg, physics_dt=1 / 240))


def test_object_features(state_teacher):
    policy, cfg = state_teacher
    with pytest.raises(ValueError, match="object_features: trained 'points', environment 'shape'"):
        policy.check_task(dataclasses.replace(cfg, object_features="shape"))


def test_observation_layout():
    """A state of another layout (here: another object description) is named as such, beside its cause."""
    v1, cfg = dexgrasp_env.load_pretrained("state-teacher-v1")
    bad = dict((name, (a, b)) for name, a, b in task_mismatches(cfg, dataclasses.replace(cfg, object_features="points"),
                                                                v1.keys))
    assert "state layout" in bad and ("object_points", 192) in bad["state layout"][1]
    with pytest.raises(ValueError, match="state layout"):
        check_task(cfg, dataclasses.replace(cfg, object_features="points"), v1.keys, who="v1")
