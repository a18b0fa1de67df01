"""Domain randomization: each part switchable, within its range, scaled by the curriculum."""

import dataclasses

import mujoco
import numpy as np
import pytest
import torch

from dexgrasp_env import rng
from dexgrasp_env.config import CurriculumConfig, EnvConfig, RandomizationConfig
from dexgrasp_env.randomization import lerp_range
from dexgrasp_env.task import GraspTask
from tests.conftest import BACKENDS, small_config


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
    fr = task.sim.fields["geom_friction"][:, task.randomizer.object_geoms, 0]
    assert torch.allclose(fr, task.object_friction.unsqueeze(1).expand_as(fr))
    kp = task.sim.fields["actuator_gainprm"][:, :, 0] / task.sim.defaults["actuator_gainprm"][:, 0]
    assert (kp >= 0.5 - 1e-5).all() and (kp <= 2.0 + 1e-5).all() and kp.std() > 0.1
    for cams in task.randomizer.sensor_cameras:  # each sensor moves about its own centre
        offset = task.sim.fields["cam_pos"][:, cams] - task.sim.defaults["cam_pos"][cams]
        radius = (task.sim.defaults["cam_pos"][cams] - task.sim.defaults["cam_pos"][cams].mean(0)).norm(dim=-1).max()
        assert offset.abs().max() <= 0.03 + radius * 0.06 and offset.abs().max() > 0.005
    lights = task.sim.fields["light_diffuse"] / task.sim.defaults["light_diffuse"].clamp_min(1e-6)
    assert lights.min() >= 0.5 - 1e-5 and lights.max() <= 1.5 + 1e-5


@pytest.fixture(scope="module")
def noisy_depth_task():
    """Depth noise (1 cm) and dropout (5 %) only, so that difficulty 0 gives the clean image of the same world."""
    rc = dataclasses.replace(RandomizationConfig.none(), depth_noise_std=0.01, depth_dropout=0.05)
    return GraspTask(small_config("depth", randomization=rc), 8, "cpu", autoreset_mode="disabled")


def test_depth_noise_and_dropout_stay_in_the_depth_range(noisy_depth_task):
    """Dropped pixels read far (no return), like misses, never 0; noise perturbs hits only."""
    task = noisy_depth_task
    near, far = task.cfg.sensors.depth.depth_range
    task.difficulty = 0.0
    clean = task.reset(seed=3)["depth"]
    task.difficulty = 1.0
    noisy = task.reset(seed=3)["depth"]
    assert noisy.min() >= near and noisy.max() <= far
    miss = (task.sim.render()["depth"] == 0).unsqueeze(1)  # the renderer's misses (raw 0)
    assert miss.any() and (noisy[miss] == far).all()  # noise never touches a miss
    inside = ~miss & (clean < far - 0.05)  # hits well inside the range (beyond far reads far too)
    hit_noisy, hit_clean = noisy[inside], clean[inside]
    dropped = hit_noisy == far
    assert 0.03 < dropped.float().mean() < 0.07  # 5 % dropout
    noise = (hit_noisy - hit_clean)[~dropped]
    assert 0.008 < noise.std() < 0.012


def test_difficulty_zero_gives_nominal_physics(full_task):
    task = full_task
    task.difficulty = 0.0
    task.reset(seed=4)
    assert torch.allclose(task.object_friction, torch.ones(32))
    kp = task.sim.fields["actuator_gainprm"][:, :, 0] / task.sim.defaults["actuator_gainprm"][:, 0]
    assert torch.allclose(kp, torch.ones_like(kp))
    nominal = torch.tensor([s.mass for s in __import__("dexgrasp_env.robot.objects", fromlist=["x"]).SHAPES])
    assert torch.isin(task.object_mass, nominal).all()


def test_a_uniform_spread_gives_each_world_its_own_difficulty_up_to_the_level():
    """``CurriculumConfig.spread="uniform"``: each world's episode draws its own difficulty between 0 and the
    level, and its ranges are that difficulty's (servo gains, camera pose); ``level``: every world at the level."""
    spread = {}
    for mode in ("level", "uniform"):
        cur = CurriculumConfig(enabled=True, initial_difficulty=0.5, spread=mode)
        cfg = small_config("depth", randomization=dataclasses.replace(RandomizationConfig.full(), curriculum=cur))
        task = GraspTask(cfg, 32, "cpu", autoreset_mode="disabled")
        task.reset(seed=2)
        d = task.world_difficulty if mode == "uniform" else torch.full((32,), task.difficulty)
        kp = task.sim.fields["actuator_gainprm"][:, :, 0] / task.sim.defaults["actuator_gainprm"][:, 0]
        lo, hi = lerp_range(RandomizationConfig.full().actuator_gain_scale, 1.0, d.unsqueeze(1))
        assert (kp >= lo - 1e-5).all() and (kp <= hi + 1e-5).all()
        cams = task.randomizer.sensor_cameras[0]
        offset = (task.sim.fields["cam_pos"][:, cams] - task.sim.defaults["cam_pos"][cams]).abs().amax((1, 2))
        radius = (task.sim.defaults["cam_pos"][cams] - task.sim.defaults["cam_pos"][cams].mean(0)).norm(dim=-1).max()
        assert (offset <= (0.03 + radius * 0.06) * d + 1e-6).all()
        spread[mode] = (d, (kp - 1).abs().amax(1))
        task.close()
    d, gain_reach = spread["uniform"]
    assert d.min() >= 0 and d.max() <= 0.5 and d.min() < 0.1 and d.max() > 0.4
    # worlds near difficulty 0 train near the nominal gains; at the level alone every world reaches further
    assert gain_reach[d < 0.1].max() < 0.1 < spread["level"][1].min()


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


def _object_contact_frictions(task, world: int) -> list[float]:
    """Sliding friction of the solver's contacts between world ``world``'s object and the table."""
    sim = task.sim
    geoms = set(task.randomizer.object_geoms.tolist())
    if sim.backend == "warp":
        c, n = sim.data.contact, int(sim.data.nacon.numpy()[0])
        pairs, worlds, friction = c.geom.numpy()[:n], c.worldid.numpy()[:n], c.friction.numpy()[:n]
    else:  # the world's own model and its state, through C MuJoCo's collision and constraint setup
        model = sim.models[world]
        data = mujoco.MjData(model)
        data.qpos[:] = sim.qpos[world].double().numpy()
        mujoco.mj_forward(model, data)
        n = data.ncon
        pairs, worlds, friction = data.contact.geom[:n], np.full(n, world), data.contact.friction[:n]
    return [float(f[0]) for (g1, g2), w, f in zip(pairs, worlds, friction)
            if w == world and {g1, g2} & geoms and sim.table_geom in (g1, g2)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sampled_object_friction_is_the_contact_friction(backend):
    """The object's sampled coefficient (here below the table's 1.0) is what the solver's contacts use."""
    rc = RandomizationConfig(friction=(0.3, 0.9), object_mass_scale=None, object_size_scale=None)
    cfg = small_config("state", backend=backend, randomization=rc, shapes=("cube_large",))
    task = GraspTask(cfg, 4, "cpu", autoreset_mode="disabled")
    task.reset(seed=5)
    for _ in range(3):  # the cubes settle onto the table
        task.step(torch.zeros(task.num_envs, task.action_dim))
    sampled = task.object_friction.tolist()
    assert max(sampled) - min(sampled) > 0.1 and max(sampled) < 0.95
    for world in range(task.num_envs):
        frictions = _object_contact_frictions(task, world)
        assert frictions, f"no object-table contact in world {world}"
        np.testing.assert_allclose(frictions, sampled[world], rtol=1e-5)


def test_curriculum_advances_in_a_single_env():
    """gym.make with a curriculum widens the ranges as episodes end, as the vector env does."""
    import gymnasium as gym
    import numpy as np

    import dexgrasp_env  # noqa: F401

    cur = CurriculumConfig(enabled=True, initial_difficulty=0.0, step=0.25, threshold=-1.0, min_episodes=2)
    env = gym.make("DexGrasp-State-v0", randomization=dataclasses.replace(RandomizationConfig(), curriculum=cur),
                   episode_length_s=3 / 60)
    env.reset(seed=0)
    assert env.unwrapped.task.difficulty == 0.0
    seen = []
    for _ in range(4):  # four 3-step episodes: two widenings
        for _ in range(3):
            *_, terminated, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert terminated or truncated
        seen.append(info["curriculum_difficulty"])
        env.reset()
    assert seen == [0.0, 0.25, 0.25, 0.5]
    assert env.unwrapped.task.difficulty == 0.5


def test_scheduled_curriculum_widens_with_steps_and_resumes_where_it_was():
    """With ``schedule_steps`` the difficulty follows the step count, whatever the success; a resumed run that
    sets the difficulty continues the schedule from there instead of restarting it."""
    from dexgrasp_env.randomization import Curriculum

    cur = Curriculum(CurriculumConfig(enabled=True, initial_difficulty=0.2, schedule_steps=1000, threshold=2.0))
    assert cur.difficulty == pytest.approx(0.2)
    assert cur.update(0, 0, steps=500) == pytest.approx(0.6)  # no episode ended, no success: still widens
    assert cur.update(10, 0, steps=250) == pytest.approx(0.8)
    assert cur.update(0, 0, steps=10_000) == 1.0
    resumed = Curriculum(cur.cfg)
    resumed.set_difficulty(0.6)
    assert resumed.update(0, 0, steps=250) == pytest.approx(0.8)


def test_gated_schedule_runs_only_while_the_training_success_holds():
    """With ``schedule_gate`` the schedule's clock stops until a window of ``min_episodes`` finished episodes
    reaches the gate, and stops again when a later window falls below it; the difficulty never shrinks."""
    from dexgrasp_env.randomization import Curriculum

    cur = Curriculum(CurriculumConfig(enabled=True, schedule_steps=1000, schedule_gate=0.5, min_episodes=10))
    assert cur.update(0, 0, steps=500) == 0.0  # no window yet: closed
    assert cur.update(10, 2, steps=500) == 0.0  # 0.2 < 0.5: closed
    assert cur.update(10, 5, steps=500) == pytest.approx(0.5)  # 0.5: open, these steps count
    assert cur.update(0, 0, steps=250) == pytest.approx(0.75)  # no new window: stays open
    assert cur.update(9, 0, steps=100) == pytest.approx(0.85)  # window not full yet
    assert cur.update(1, 0, steps=100) == pytest.approx(0.85)  # 0 of 10: closed again, held
    assert cur.update(10, 10, steps=500) == 1.0


@pytest.mark.parametrize("fields, message", [
    (dict(schedule_gate=0.1), "schedule_gate=0.1 gates a schedule: it needs schedule_steps"),
    (dict(schedule_steps=100, schedule_gate=1.5), r"schedule_gate=1.5 must be a success fraction in \[0, 1\]"),
    (dict(schedule_steps=0), "schedule_steps=0 must be >= 1"),
    (dict(initial_difficulty=-0.1), r"initial_difficulty=-0.1 must be in \[0, 1\]"),
])
def test_a_bad_curriculum_is_refused_by_name(fields, message):
    with pytest.raises(ValueError, match=message):
        CurriculumConfig(enabled=True, **fields)


def test_scheduled_curriculum_in_a_single_env():
    """gym.make counts every step towards the schedule (not only the steps of ended episodes)."""
    import gymnasium as gym
    import numpy as np

    import dexgrasp_env  # noqa: F401

    cur = CurriculumConfig(enabled=True, schedule_steps=12)
    env = gym.make("DexGrasp-State-v0", randomization=dataclasses.replace(RandomizationConfig(), curriculum=cur),
                   episode_length_s=3 / 60)
    env.reset(seed=0)
    seen = []
    for _ in range(2):
        for _ in range(3):
            *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
        seen.append(info["curriculum_difficulty"])
        env.reset()
    assert seen == [0.25, 0.5]


def test_scheduled_curriculum_in_the_pool_counts_each_environment_step_once():
    """The vector env counts every environment step of a scheduled curriculum: 2 steps of 3 envs are 6 steps;
    with pipelined halves each half counts its own envs (not the whole pool's twice)."""
    from dexgrasp_env.vector.pool import make_vector_env

    cfg = EnvConfig(randomization=dataclasses.replace(
        RandomizationConfig(), curriculum=CurriculumConfig(enabled=True, schedule_steps=60)))
    envs = make_vector_env(4, config=cfg, pipeline=True)
    envs.reset(seed=0)
    first, second = envs.halves()
    for half in (first, second):
        half.step(torch.zeros(half.num_envs, *envs.single_action_space.shape))
    assert envs.difficulty == pytest.approx(4 / 60)
    envs.step(torch.zeros(4, *envs.single_action_space.shape))
    assert envs.difficulty == pytest.approx(8 / 60)
    envs.close()
