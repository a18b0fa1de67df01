"""The two physics backends agree: C MuJoCo (CPU threads) and MuJoCo Warp run the same task."""

import numpy as np
import pytest
import torch

from dexgrasp_env.config import CameraConfig, RandomizationConfig
from dexgrasp_env.robot.objects import SHAPE_NAMES
from dexgrasp_env.scripted import run_scripted_grasp
from dexgrasp_env.sim import make_simulator
from dexgrasp_env.task import GraspTask
from tests.conftest import BACKENDS, small_config


def _pair(obs_mode="state", n=4, **overrides):
    overrides.setdefault("randomization", RandomizationConfig.none())
    return {b: GraspTask(small_config(obs_mode, backend=b, **overrides), n, "cpu", autoreset_mode="disabled")
            for b in BACKENDS}


def test_backends_are_what_they_say():
    cfg = small_config("state")
    assert make_simulator(cfg, 2).backend == "mujoco"  # the CPU default
    for b in BACKENDS:
        sim = make_simulator(small_config("state", backend=b), 2)
        assert sim.backend == b
        shapes = {name: tuple(v.shape) for name, v in sim.fields.items()}
        assert shapes == {name: (2, *s) for name, s in sim.field_shapes().items()}


def test_arm_and_hand_in_free_space_agree_within_1e_4_rad():
    """The same state and actions: every joint within 1e-4 rad over 60 control steps (1 s)."""
    tasks = _pair(action_mode="joint", object_assignment="cycle")
    t = torch.arange(60, dtype=torch.float32)
    phase = torch.arange(4).unsqueeze(1) + torch.arange(23).unsqueeze(0) * 0.37
    worst = 0.0
    for task in tasks.values():
        task.reset(seed=3)
        task.sim.qpos[:, task.sim.object_qpos.start] = 1.0  # the object out of reach: free space
        task.sim.forward()
    start = tasks["mujoco"].sim.qpos[:, :23].clone()
    for k in range(60):
        action = 0.5 * torch.sin(0.2 * t[k] + phase)  # smooth, within the joint ranges
        q = [task.step(action)[0]["state"][:, :23] for task in tasks.values()]
        worst = max(worst, (q[0] - q[1]).abs().max().item())
    moved = (tasks["mujoco"].sim.qpos[:, :23] - start).abs().max().item()
    print(f"largest joint difference {worst:.2e} rad over a motion of up to {moved:.2f} rad")
    assert moved > 0.3  # the joints really moved
    assert worst < 1e-4, worst


def test_scripted_grasp_lifts_the_same_shapes_on_both_backends():
    lifted = {}
    for backend, task in _pair(action_mode="joint", object_assignment="cycle", n=16).items():
        result = run_scripted_grasp(task, seed=0, hold_height=0.10)
        lifted[backend] = {SHAPE_NAMES[i] for i in result["lifted"].nonzero()[0]}
    print({b: sorted(s) for b, s in lifted.items()})
    assert len(lifted["mujoco"]) >= 4 and len(lifted["warp"]) >= 4
    assert len(lifted["mujoco"] ^ lifted["warp"]) <= 1, lifted


def test_images_from_the_same_state_agree():
    """Depth within 1 mm at every pixel; left and right within 2 levels on 99 % of the pixels."""
    tasks = _pair("stereo_rgb", extra_obs=("depth",), camera=CameraConfig(width=64, height=48),
                  randomization=RandomizationConfig.full())
    obs = {}
    for backend, task in tasks.items():
        task.difficulty = 1.0
        task.reset(seed=4)
        for _ in range(5):
            task.step(torch.full((task.num_envs, task.action_dim), 0.3))
        obs[backend] = task.last_obs
    # the same state on both (C MuJoCo's state copied into the Warp worlds), then one more render each
    warp = tasks["warp"]
    warp.sim.qpos.copy_(tasks["mujoco"].sim.qpos)
    warp.sim.forward()
    obs["warp"] = warp._observe()
    depth = (obs["mujoco"]["depth"] - obs["warp"]["depth"]).abs()
    assert depth.max() < 1e-3, depth.max()
    assert obs["mujoco"]["depth"].std() > 0.05  # a scene, not an empty view
    for eye in ("left", "right"):
        diff = (obs["mujoco"][eye].int() - obs["warp"][eye].int()).abs()
        assert (diff <= 2).float().mean() >= 0.99, eye
        assert obs["mujoco"][eye].float().std() > 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_world_that_blows_up_is_reported_not_observed(backend):
    task = GraspTask(small_config("state", backend=backend), 3, "cpu", autoreset_mode="next_step")
    task.reset(seed=0)
    task.step(torch.zeros(3, task.action_dim))
    valid = task.last_obs["state"].clone()
    task.sim.qvel[1, task.sim.object_qvel] = 1e30  # an explosion the solver cannot integrate
    obs, reward, terminated, truncated, info = task.step(torch.zeros(3, task.action_dim))
    assert info["diverged"].tolist() == [False, True, False]
    assert truncated[1] and not terminated[1] and reward[1] == 0
    assert torch.equal(obs["state"][1], valid[1])  # the last valid observation, not the broken state
    assert torch.isfinite(task.sim.qpos).all() and torch.isfinite(task.sim.qvel).all()
    np.testing.assert_array_equal(task.needs_reset.numpy(), [False, True, False])


def test_one_c_world_computes_the_frames_of_many():
    """A single C world takes its frames from MuJoCo's position stage directly, not through a rollout
    (MujocoSim._frames): the frames and the action map's frames at other arm angles must be bit-identical to those
    of a world among several."""
    cfg = small_config("state", backend="mujoco")
    one, many = make_simulator(cfg, 1), make_simulator(cfg, 3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        q = many.qpos[:1] + 0.3 * torch.randn(1, many.qpos.shape[1], generator=gen)
        arm = 0.5 * torch.randn(1, 7, generator=gen)
        results = []
        for sim in (one, many):
            sim.qpos[:] = q
            sim.forward()
            at = sim.arm_frames(arm.expand(sim.num_worlds, -1))
            results.append([sim.site_xpos[:1].clone(), sim.arm_axis[:1].clone(), sim.arm_anchor[:1].clone(),
                            *(x[:1].clone() for x in at)])
        for a, b in zip(*results):
            assert a.abs().sum() > 0
            assert torch.equal(a, b)
