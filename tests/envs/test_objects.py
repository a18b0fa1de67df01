"""The object set, and the batched formulas that let every world carry its own shape."""

import dataclasses

import mujoco
import numpy as np
import pytest
import torch

from dexgrasp_env.config import RandomizationConfig, make_env_config
from dexgrasp_env.robot import objects
from dexgrasp_env.robot.object_sets import load_object_set
from dexgrasp_env.robot.scene import build_spec
from dexgrasp_env.sensors import POLICY_CAMERAS
from tests.conftest import BACKENDS


def test_sixteen_distinct_shapes_of_every_kind():
    assert len(objects.SHAPES) >= 16
    assert len({(s.kind, s.size) for s in objects.SHAPES}) == len(objects.SHAPES)
    assert {s.kind for s in objects.SHAPES} == set(range(4))
    full = RandomizationConfig.full().object_mass_scale
    for s in objects.SHAPES:
        assert 0.05 <= s.mass * full[0] and s.mass * full[1] <= 0.5


def test_selecting_shapes_rejects_unknown_names():
    assert load_object_set(make_env_config(shapes=("cube_small",))).primitives[0].name == "cube_small"
    with pytest.raises(ValueError, match="teapot"):
        load_object_set(make_env_config(shapes=("teapot",)))


@pytest.mark.parametrize("shape", objects.SHAPES, ids=lambda s: s.name)
def test_batched_formulas_match_mujoco_compiler(shape):
    """Inertia, bounding box, bounding radius and invweights equal what MuJoCo computes."""
    spec = build_spec(make_env_config())
    for k, kind in enumerate(objects.KINDS):
        spec.geom(f"object_{kind}").size = shape.size if k == shape.kind else (objects.HIDDEN_SIZE,) * 3
    spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_TRUE  # derive it from the geoms
    active = spec.geom(f"object_{objects.KINDS[shape.kind]}")
    active.mass = shape.mass
    for k, kind in enumerate(objects.KINDS):
        if k != shape.kind:
            spec.geom(f"object_{kind}").mass = 1e-12
    model = spec.compile()
    kind = torch.tensor([shape.kind])
    size = torch.tensor([shape.size], dtype=torch.float64)
    mass = torch.tensor([shape.mass], dtype=torch.float64)
    gid = model.geom(f"object_{objects.KINDS[shape.kind]}").id
    np.testing.assert_allclose(objects.bounding_radius(kind, size).numpy(), [model.geom_rbound[gid]], rtol=1e-6)
    np.testing.assert_allclose(objects.half_extents(kind, size)[0].numpy(), model.geom_aabb[gid][3:], rtol=1e-6)
    bid = model.body("object").id
    inertia = np.sort(objects.inertia(kind, size, mass)[0].numpy())
    np.testing.assert_allclose(inertia, np.sort(model.body_inertia[bid]), rtol=1e-4)
    # invweights as the task writes them: (1/m, mean(1/I)) for a free body
    np.testing.assert_allclose(model.body_invweight0[bid], [1 / shape.mass, np.mean(1 / inertia)], rtol=1e-3)


def test_every_shape_rests_on_the_table(state_task):
    """Each world's own shape collides correctly: after 1 s every object rests on the table."""
    task = state_task
    task.reset(seed=1)
    rest = objects.rest_height(task.object_kind, task.object_size)
    for _ in range(60):
        task.step(torch.zeros(task.num_envs, task.action_dim))
    z = task.sim.qpos[:, 25]
    # spheres may roll but never sink or fly
    np.testing.assert_allclose(z.numpy(), rest.numpy(), atol=0.004)
    sizes = task.sim.fields["geom_size"][:, task.randomizer.object_geoms]
    active = (sizes > objects.HIDDEN_SIZE).any(-1)
    assert (active.sum(1) == 1).all()
    assert torch.equal(active.float().argmax(1), task.object_kind)


UNUSED_HERE = {
    "dof_length": "read only when sleeping is enabled (it is not)",
    **{f: "read only by tracking cameras (every camera here is fixed)" for f in ("cam_poscom0", "cam_pos0", "cam_mat0")},
    **{f: "read only by tracking lights (every light here is fixed)" for f in ("light_poscom0", "light_pos0",
                                                                              "light_dir0")},
}


C_UNUSED = {
    "bvh_aabb": "midphase bounding volumes: the C backend disables the midphase (its boxes are compile-time)",
    "dof_M0": "mass-matrix diagonal at qpos0: read by mj_setConst only, never while stepping",
}


def _compiled_world(task, w: int) -> mujoco.MjModel:
    """What MuJoCo compiles for world ``w``: its object shape, size, mass, friction, gains, cameras, lights."""
    cfg, fields = task.cfg, task.sim.fields
    spec = build_spec(cfg)
    kind = int(task.object_kind[w])
    for k, name in enumerate(objects.KINDS):
        geom = spec.geom(f"object_{name}")
        geom.size = task.object_size[w].tolist() if k == kind else (objects.HIDDEN_SIZE,) * 3
        geom.friction = [float(task.object_friction[w]), 0.01, 0.0001]
        geom.rgba = fields["geom_rgba"][w, task.randomizer.object_geoms[k]].tolist()
    spec.geom("table").rgba = fields["geom_rgba"][w, task.sim.table_geom].tolist()
    body = spec.body("object")
    body.mass = float(task.object_mass[w])
    body.inertia = fields["body_inertia"][w, task.sim.object_body].double().numpy()
    for i, act in enumerate(spec.actuators):
        act.gainprm[0] = float(fields["actuator_gainprm"][w, i, 0])
        act.biasprm[1:3] = fields["actuator_biasprm"][w, i, 1:3].double().numpy()
    for cam in POLICY_CAMERAS:
        cid = task.sim.camera_ids[cam]
        spec.camera(cam).pos = fields["cam_pos"][w, cid].double().numpy()
        spec.camera(cam).quat = fields["cam_quat"][w, cid].double().numpy()
    for i, light in enumerate(spec.lights):
        light.diffuse = fields["light_diffuse"][w, i].double().numpy()
    return spec.compile()


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_world_model_equals_a_compiled_model_of_that_world(backend):
    """Every field of a randomized world equals what MuJoCo compiles for that world's object.

    A field the task forgets to update per world (it once forgot body_subtreemass) makes the
    dynamics of that world wrong; this compares all of them: every array of the Warp model, or every
    array of the world's own C ``MjModel``.
    """
    from dexgrasp_env.task import GraspTask
    from tests.conftest import small_config

    cfg = small_config("state", randomization=RandomizationConfig.full(), backend=backend)
    task = GraspTask(cfg, 3, "cpu")
    task.reset(seed=9)
    task.step(torch.zeros(task.num_envs, task.action_dim))  # the C backend writes its models before a step
    mjm = task.sim.mjm
    assert not mjm.opt.enableflags & mujoco.mjtEnableBit.mjENBL_SLEEP
    assert (mjm.cam_mode == mujoco.mjtCamLight.mjCAMLIGHT_FIXED).all()
    assert (mjm.light_mode == mujoco.mjtCamLight.mjCAMLIGHT_FIXED).all()
    for w in range(task.num_envs):
        compiled = _compiled_world(task, w)
        if backend == "mujoco":
            ours = task.sim.models[w]
            names = [n for n in dir(compiled) if not n.startswith("_") and isinstance(getattr(compiled, n), np.ndarray)]
            assert len(names) > 100
            for name in names:
                if name in C_UNUSED or name in UNUSED_HERE:
                    continue
                a, b = getattr(ours, name), getattr(compiled, name)
                if a.dtype.kind in "fc":
                    np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=f"{name} of world {w}")
                else:
                    np.testing.assert_array_equal(a, b, err_msg=f"{name} of world {w}")
            continue
        import mujoco_warp as mjw
        import warp as wp
        from mujoco_warp._src import types as wtypes

        with wp.ScopedDevice("cpu"):
            ref = mjw.put_model(compiled)
        for f in dataclasses.fields(wtypes.Model):
            ours, theirs = getattr(task.sim.model, f.name, None), getattr(ref, f.name, None)
            if not isinstance(ours, wp.array) or f.name in UNUSED_HERE:
                continue
            a, b = ours.numpy(), theirs.numpy()
            if a.shape != b.shape:  # a per-world field: compare this world's row
                a, b = a[w], b[0]
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=f"{f.name} of world {w}")
