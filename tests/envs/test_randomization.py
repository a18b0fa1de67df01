"""Domain randomization: each part switchable, within its range, scaled by the curriculum."""

import dataclasses

import pytest
import torch

from dexgrasp_env import rng
from dexgrasp_env.config import CurriculumConfig, RandomizationConfig
from dexgrasp_env.task import GraspTask, lerp_range
from tests.conftest import small_config


@pytest.fixture(scope="module")
def full_task():
    cfg = small_config("depth", extra_obs=("state",), randomization=RandomizationConfig.full())
    return GraspTask(cfg, 32, "cpu", autoreset_mode="disabled")


def test_full_ranges_are_respected(full_task):
    task = full_task
    task.difficulty = 1.0
    task.reset(seed=11)
    rc = task.cfg.randomization
    assert (task.object_mass >= 0.05).all() and (task.object_mass <= 0.5).all()
    assert task.object_mass.std() > 0.02
    lo, hi = rc.friction
    assert (task.object_friction >= lo).all() and (task.object_friction <= hi).all()
    fr = task.sim.fields["geom_friction"][:, task.object_geoms, 0]
    assert torch.allclose(fr, task.object_friction.unsqueeze(1).expand_as(fr))
    kp = task.sim.fields["actuator_gainprm"][:, :, 0] / task.sim.defaults["actuator_gainprm"][:, 0]
    assert (kp >= 0.5 - 1e-5).all() and (kp <= 2.0 + 1e-5).all() and kp.std() > 0.1
    cams = task.rig_cameras
    offset = task.sim.fields["cam_pos"][:, cams] - task.sim.defaults["cam_pos"][cams]
    rig_radius = (task.sim.defaults["cam_pos"][cams] - task.sim.defaults["cam_pos"][cams].mean(0)).norm(dim=-1).max()
    assert offset.abs().max() <= 0.03 + rig_radius * 0.06 and offset.abs().max() > 0.005
    lights = task.sim.fields["light_diffuse"] / task.sim.defaults["light_diffuse"].clamp_min(1e-6)
    assert lights.min() >= 0.5 - 1e-5 and lights.max() <= 1.5 + 1e-5


def test_depth_noise_and_dropout(full_task):
    task = full_task
    task.difficulty = 1.0
    obs = task.reset(seed=3)
    dropped = (obs["depth"] == 0).float().mean().item()
    assert 0.01 < dropped < 0.04  # 2 % dropout
    task.difficulty = 0.0
    clean = task.reset(seed=3)["depth"]
    assert (clean > 0).all()


def test_difficulty_zero_gives_nominal_physics(full_task):
    task = full_task
    task.difficulty = 0.0
    task.reset(seed=4)
    assert torch.allclose(task.object_friction, torch.ones(32))
    kp = task.sim.fields["actuator_gainprm"][:, :, 0] / task.sim.defaults["actuator_gainprm"][:, 0]
    assert torch.allclose(kp, torch.ones_like(kp))
    nominal = torch.tensor([s.mass for s in __import__("dexgrasp_env.robot.objects", fromlist=["x"]).SHAPES])
    assert torch.isin(task.object_mass, nominal).all()


def test_switches_off():
    cfg = small_config("state", randomization=RandomizationConfig.none())
    task = GraspTask(cfg, 8, "cpu")
    task.reset(seed=0)
    assert torch.allclose(task.object_friction, torch.ones(8))
    assert torch.equal(task.sim.fields["cam_pos"], task.sim.defaults["cam_pos"].expand_as(task.sim.fields["cam_pos"]))


def test_lerp_range_and_curriculum_config():
    assert lerp_range((0.5, 3.0), 1.0, 0.0) == (1.0, 1.0)
    assert lerp_range((0.5, 3.0), 1.0, 1.0) == (0.5, 3.0)
    assert lerp_range((0.5, 3.0), 1.0, 0.5) == (0.75, 2.0)
    cfg = small_config("state", randomization=dataclasses.replace(
        RandomizationConfig(), curriculum=CurriculumConfig(enabled=True, initial_difficulty=0.2)))
    assert GraspTask(cfg, 2, "cpu").difficulty == pytest.approx(0.2)


def test_counter_based_rng():
    env = torch.arange(10)
    key = rng.hash_keys(123, env, 1, -1, 4)
    u = rng.uniform(key, 1000)
    assert u.shape == (10, 1000) and u.min() >= 0 and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.std().item() - 12 ** -0.5) < 0.01
    # a value depends on its own keys only, not on which other environments are in the batch
    assert torch.equal(rng.uniform(rng.hash_keys(123, env[3:5], 1, -1, 4), 1000), u[3:5])
    assert not torch.equal(rng.uniform(rng.hash_keys(124, env, 1, -1, 4), 1000), u)
    z = rng.normal(key, 2000)
    assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02
