"""Object sets: primitives, procedural shapes, YCB meshes and a folder of the user's files, on both backends."""

from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from dexgrasp_env.config import ENV_IDS, CameraConfig, ProceduralConfig, RandomizationConfig
from dexgrasp_env.robot import object_sets
from dexgrasp_env.robot.object_sets import SURFACE_POINTS, load_object_set
from dexgrasp_env.robot.procedural import generate
from dexgrasp_env.rotations import quat_rotate
from dexgrasp_env.scripted import run_scripted_grasp
from dexgrasp_env.spaces import state_slices
from dexgrasp_env.task import GraspTask
from tests.conftest import BACKENDS, small_config

trimesh = pytest.importorskip("trimesh")


@pytest.fixture(scope="session")
def stl_folder(tmp_path_factory) -> str:
    """Three STL files the way a user exports them: a box, a cylinder and a sphere, in metres."""
    folder = tmp_path_factory.mktemp("meshes")
    trimesh.creation.box(extents=(0.05, 0.04, 0.06)).export(folder / "block.stl")
    trimesh.creation.cylinder(radius=0.025, height=0.07, sections=24).export(folder / "can.stl")
    trimesh.creation.icosphere(subdivisions=2, radius=0.03).export(folder / "ball.stl")
    return str(folder)


def _sets(stl_folder):
    return ("primitives", "procedural", "ycb", stl_folder)


# ------------------------------------------------------------------------------------------------
def test_every_set_works_with_every_registered_id(stl_folder):
    """``gym.make(id, object_set=S)``: check_env passes, 100 random steps stay finite, and where the object
    is the depth image differs from a render of the empty table."""
    for object_set in _sets(stl_folder):
        for env_id in ENV_IDS:
            env = gym.make(env_id, object_set=object_set, sensors=small_config().sensors)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check_env(env.unwrapped, skip_render_check=True)
            env.reset(seed=1)
            for _ in range(100):
                obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
                for v in (obs.values() if isinstance(obs, dict) else [obs]):
                    assert np.isfinite(np.asarray(v, dtype=np.float64)).all(), (object_set, env_id)
                if terminated or truncated:
                    env.reset()
            env.close()
        task = GraspTask(small_config("depth", object_set=object_set, object_assignment="cycle",
                                      camera=CameraConfig(width=64, height=48)), 3)
        with_object = task.reset(seed=0)["depth"].clone()
        task.sim.qpos[:, task.sim.object_qpos.start] = 5.0  # the object far away: the empty table
        task.sim.forward()
        empty = task._observe()["depth"]
        changed = (with_object - empty).abs() > 0.01
        assert (changed.flatten(1).sum(1) >= 3).all(), (object_set, changed.flatten(1).sum(1))
        assert (with_object <= empty + 1e-4).all()  # the object stands in front of the table, never behind
        task.close()


def test_procedural_sets_are_seeded():
    a, b = generate(ProceduralConfig(seed=3, count=8)), generate(ProceduralConfig(seed=3, count=12))
    for (na, fa, pa), (nb, fb, pb) in zip(a, b):  # object i depends on (seed, i) alone
        assert na == nb and fa == fb and all(np.array_equal(x, y) for x, y in zip(pa, pb))
    other = generate(ProceduralConfig(seed=4, count=8))
    assert not any(np.array_equal(x[2][0], y[2][0]) for x, y in zip(a, other))
    cfg = ProceduralConfig(seed=3, count=8)
    for name, family, pieces in a:
        extent = np.ptp(np.concatenate(pieces), axis=0)
        assert cfg.size[0] - 1e-9 <= extent.max() <= cfg.size[1] + 1e-9, (name, extent)
        assert extent.min() >= cfg.min_thickness - 1e-9, (name, extent)
    assert {f for _, f, _ in a} == set(cfg.families)


def test_state_describes_any_object_by_surface_points_in_the_world_frame():
    task = GraspTask(small_config("state", object_set="procedural", object_assignment="cycle"), 4)
    task.reset(seed=2)
    for _ in range(5):
        obs = task.step(torch.zeros(4, task.action_dim))[0]
    points = obs["state"][:, state_slices(task.cfg)["object_points"]].view(4, SURFACE_POINTS, 3)
    sim = task.sim
    local = quat_rotate(sim.object_quat.unsqueeze(1) * torch.tensor([1.0, -1, -1, -1]),
                        points - sim.object_pos.unsqueeze(1))  # back into the object's frame
    expected = torch.as_tensor(load_object_set(task.cfg).points)[torch.arange(4)]
    torch.testing.assert_close(local, expected, atol=1e-5, rtol=0)
    assert "object_kind" not in state_slices(task.cfg)


def test_a_c_world_model_holds_its_own_object_only():
    task = GraspTask(small_config("state", object_set="ycb", object_assignment="cycle"), 3)
    task.reset(seed=0)
    task.step(torch.zeros(3, task.action_dim))
    meshes = load_object_set(task.cfg).meshes
    for i, model in enumerate(task.sim.models):
        assert model.nmesh == len(meshes[i].collision)
        assert model.nmeshvert == sum(len(c) for c in meshes[i].collision)
    assert task.sim.mjm.nmesh == 2 * len(meshes)  # the batched (renderer's) model holds every mesh


# ------------------------------------------------------------------------------------------------
def _mesh_pair(**overrides):
    overrides.setdefault("randomization", RandomizationConfig.none())
    return {b: GraspTask(small_config("depth", backend=b, action_mode="joint", object_assignment="cycle", **overrides),
                         4, "cpu", autoreset_mode="disabled") for b in BACKENDS}


def test_mesh_objects_settle_and_render_alike_on_both_backends():
    """Multi-piece procedural objects and a YCB scan: the same rest pose within 2 mm, depth within 1 mm."""
    for object_set, shapes in (("procedural", ("proc0_002_revolution", "proc0_003_union", "proc0_000_polytope",
                                               "proc0_007_union")), ("ycb", None)):
        tasks = _mesh_pair(object_set=object_set, shapes=shapes)
        for task in tasks.values():
            task.reset(seed=5)
            for _ in range(30):
                task.step(torch.zeros(4, task.action_dim))
        pos = {b: t.sim.object_pos.clone() for b, t in tasks.items()}
        assert (pos["mujoco"] - pos["warp"]).abs().max() < 2e-3, (object_set, pos)
        warp = tasks["warp"]
        warp.sim.qpos.copy_(tasks["mujoco"].sim.qpos)
        warp.sim.forward()
        depth = (tasks["mujoco"]._observe()["depth"] - warp._observe()["depth"]).abs()
        assert depth.max() < 1e-3, (object_set, depth.max())


def test_scripted_grasp_lifts_most_of_the_ycb_subset_on_both_backends():
    n = len(object_sets.YCB_GRASPABLE)
    lifted = {}
    for backend in BACKENDS:
        task = GraspTask(small_config("state", backend=backend, object_set="ycb", action_mode="joint",
                                      object_assignment="cycle", randomization=RandomizationConfig.none()),
                         n, "cpu", autoreset_mode="disabled")
        result = run_scripted_grasp(task, seed=0, hold_height=0.10)
        lifted[backend] = {object_sets.YCB_GRASPABLE[i] for i in result["lifted"].nonzero()[0]}
    print({b: sorted(s) for b, s in lifted.items()})
    for backend, names in lifted.items():
        assert len(names) >= 0.6 * n, (backend, sorted(set(object_sets.YCB_GRASPABLE) - names))


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
def _folder_with(tmp_path, name, data):
    (tmp_path / name).write_bytes(data) if isinstance(data, bytes) else data.export(tmp_path / name)
    return str(tmp_path)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_dir.*neither a named set"):
        load_object_set(small_config(object_set=str(tmp_path / "no_such_dir")))


def test_a_folder_without_meshes_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("no meshes here")
    with pytest.raises(ValueError, match=r"holds no mesh files \(expected .obj/.stl; found \['notes.txt'\]"):
        load_object_set(small_config(object_set=str(tmp_path)))


def test_an_unreadable_file_is_named(tmp_path):
    folder = _folder_with(tmp_path, "broken.obj", b"v 0 0 0\nf 1 2 3 garbage\n\x00\x01")
    with pytest.raises(ValueError, match="broken.obj"):
        load_object_set(small_config(object_set=folder))


def test_a_degenerate_file_is_named(tmp_path):
    flat = trimesh.Trimesh(vertices=[[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0], [0.05, 0.05, 0]],
                           faces=[[0, 1, 2], [1, 3, 2], [0, 2, 1], [1, 2, 3]], process=False)
    folder = _folder_with(tmp_path, "sheet.stl", flat)
    with pytest.raises(ValueError, match="sheet.stl.*degenerate"):
        load_object_set(small_config(object_set=folder))


def test_a_mesh_in_millimetres_and_one_too_large_or_small_are_named(tmp_path):
    folder = _folder_with(tmp_path, "mm.stl", trimesh.creation.box(extents=(50.0, 40.0, 60.0)))
    with pytest.raises(ValueError, match="mm.stl.*looks like millimetres; set mesh_scale=0.001"):
        load_object_set(small_config(object_set=folder))
    assert len(load_object_set(small_config(object_set=folder, mesh_scale=0.001))) == 1  # the fix it names works
    with pytest.raises(ValueError, match="mm.stl.*too large for the hand"):
        load_object_set(small_config(object_set=folder, mesh_scale=0.01))
    with pytest.raises(ValueError, match="mm.stl.*too small for the hand"):
        load_object_set(small_config(object_set=folder, mesh_scale=0.0001))


def test_a_concave_mesh_without_a_decomposition_tool_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "coacd", None)  # not installed (importing it fails)
    cup = trimesh.creation.annulus(r_min=0.02, r_max=0.03, height=0.05)
    folder = _folder_with(tmp_path, "cup.stl", cup)
    concave = r"cup.stl.*is concave \(it fills \d+% of its convex hull\).*pip install coacd"
    with pytest.raises(ValueError, match=concave):
        load_object_set(small_config(object_set=folder))
    hull = load_object_set(small_config(object_set=folder, mesh_decomposition="hull"))  # the documented way out
    assert hull.meshes[0].treatment == "hull"


def test_an_unknown_object_name_is_named():
    with pytest.raises(ValueError, match="unknown objects \\['teapot'\\] in object_set='procedural'"):
        load_object_set(small_config(object_set="procedural", shapes=("teapot",)))


def test_shape_features_are_refused_for_meshes():
    with pytest.raises(ValueError, match="object_features='shape' describes primitives only"):
        small_config(object_set="ycb", object_features="shape")


def test_any_non_negative_seed_is_accepted():
    env = gym.make("DexGrasp-State-v0")
    a, _ = env.reset(seed=2**70)
    b, _ = env.reset(seed=2**70)
    c, _ = env.reset(seed=2**70 + 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(gym.error.Error, match="-1"):  # Gymnasium refuses negative seeds itself
        env.reset(seed=-1)
    env.close()


# ------------------------------------------------------------------------------------------------
# convex decomposition: done once, cached under a content hash, never half-written
# ------------------------------------------------------------------------------------------------
def test_a_concave_mesh_is_decomposed_once_and_cached(tmp_path, monkeypatch):
    coacd = pytest.importorskip("coacd")
    monkeypatch.setenv("DEXGRASP_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "objects"
    folder.mkdir()
    trimesh.creation.annulus(r_min=0.02, r_max=0.03, height=0.05).export(folder / "cup.stl")
    cfg = small_config(object_set=str(folder))
    cup = object_sets._folder(cfg.object_set, 1.0, 600.0, "auto").meshes[0]
    assert cup.treatment == "coacd" and len(cup.collision) >= 3  # a ring needs several convex pieces
    entries = list((tmp_path / "cache" / "coacd").iterdir())
    assert len(entries) == 1 and len(entries[0].stem) == 64  # one entry, named by its sha256

    def no_second_run(*a, **k):
        raise AssertionError("CoACD ran again on a cached mesh")

    monkeypatch.setattr(coacd, "run_coacd", no_second_run)
    again = object_sets._folder(cfg.object_set, 1.0, 600.0, "auto").meshes[0]
    assert all(np.array_equal(a, b) for a, b in zip(again.collision, cup.collision))

    # a run killed while writing leaves nothing under the entry's name
    entries[0].unlink()
    monkeypatch.undo()
    monkeypatch.setenv("DEXGRASP_CACHE", str(tmp_path / "cache"))

    def killed(path, **arrays):
        open(path, "wb").write(b"half an entry")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        object_sets._folder(cfg.object_set, 1.0, 600.0, "auto")
    assert not list((tmp_path / "cache" / "coacd").iterdir())  # neither the entry nor its temporary file
