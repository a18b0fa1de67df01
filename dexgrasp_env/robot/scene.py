"""The task scene as a ``mujoco.MjSpec``: arm + hand on a table, one object, a camera rig.

World frame: the arm base at the origin, the table top at ``z = 0``, ``x`` pointing from the
robot over the table. The robot and the table are primitive geometry. The object body carries the
slots of its object set (:mod:`dexgrasp_env.robot.object_sets`): one geom per primitive kind, or, for
a mesh set, collision slots (convex pieces, geom group :data:`COLLISION_GROUP`, never drawn) and
render slots (no contacts). Which mesh a slot shows differs per world (:func:`mesh_slot_table`).
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.robot import kuka_allegro as ka
from dexgrasp_env.robot.object_sets import MAX_HULL_VERTICES, ObjectSet, load_object_set
from dexgrasp_env.robot.objects import HIDDEN_SIZE, KINDS
from dexgrasp_env.sensors import SENSORS, VIEWER_CAMERA, CameraConfig, camera_of

# Contact filtering (contype/conaffinity bits): robot-robot and static-static pairs never collide.
OBJECT_BIT, TABLE_BIT, ROBOT_BIT = 1, 2, 4
TABLE_TOP_Z = 0.0
FLOOR_Z = -0.8
#: The table is a solid block from the floor up: an object pressed hard into it is pushed back
#: out of the top, never through a thin slab.
TABLE_HALF = (0.75, 0.70, 0.5 * (TABLE_TOP_Z - FLOOR_Z))
TABLE_CENTER = (0.40, 0.0, TABLE_TOP_Z - TABLE_HALF[2])

#: Arm start pose: palm 28 cm above the table at (0.6, -0.07), palm down, fingers along +y
#: (found by inverse kinematics; this branch reaches the whole spawn region).
ARM_HOME = (-0.775, 1.167, 0.649, -1.275, 0.827, 1.554, 0.944)
#: Open hand: fingers nearly straight, thumb turned down to oppose them.
HAND_HOME = (0.0, 0.1, 0.1, 0.1) * 3 + (1.2, 0.2, 0.0, 0.0)
#: The closed power grasp of the scripted grasp (and of the first finger synergy at full action).
HAND_GRASP = (0.0, 1.3, 1.3, 1.0) * 3 + (1.4, 1.1, 1.2, 1.2)
#: A loose fist: the target of the finger-curl regularizer.
HAND_CURLED = (0.0, 0.9, 0.9, 0.9) * 3 + (1.2, 0.6, 0.7, 0.7)

ROBOT_RGBA = {"arm": (0.92, 0.45, 0.12, 1.0), "link": (0.75, 0.75, 0.78, 1.0), "hand": (0.15, 0.15, 0.17, 1.0),
              "tip": (0.9, 0.9, 0.9, 1.0)}
TABLE_RGBA = (0.55, 0.42, 0.30, 1.0)
OBJECT_RGBA = (0.20, 0.55, 0.85, 1.0)
GOAL_GROUP = 4
"""Geom group of the goal marker: drawn in the person's view, not in the policy's cameras."""
COLLISION_GROUP = 3
"""Geom group of a mesh object's collision pieces: they collide, no camera draws them."""
STATIC_GROUP = 2
"""Geom group of the static scene (floor, table, the arm's base: geoms that never move): every camera draws it, and
a static camera ray traces it once per world rather than every step (:class:`~dexgrasp_env.sim.warp_backend.
LayeredRenderer`). Every other drawn geom is in group 0."""
SLOT_FIELDS = ("geom_dataid", "geom_pos", "geom_quat", "geom_size", "geom_aabb", "geom_rbound")
"""Geom fields a mesh slot takes from the mesh it holds in a world."""


def look_at_quat(position, target) -> np.ndarray:
    """Quaternion of a MuJoCo camera at ``position`` looking at ``target`` with world z up."""
    position, target = np.asarray(position, float), np.asarray(target, float)
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    mat = np.stack([right, up, -forward], axis=1)  # columns: camera x, y, z in the world
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.reshape(-1))
    return quat


def sensor_camera_poses(cam: CameraConfig, keys: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Position and quaternion (in the frame of the sensor's mount) of each camera of one sensor: one camera
    at ``cam.position``, or a pair ``cam.stereo_baseline`` apart along the camera's horizontal axis."""
    quat = look_at_quat(cam.position, cam.target)
    pos = np.asarray(cam.position, float)
    if len(keys) == 1:
        return {keys[0]: (pos, quat)}
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, quat)
    right = mat.reshape(3, 3)[:, 0]
    half = 0.5 * cam.stereo_baseline
    return {keys[0]: (pos - half * right, quat), keys[1]: (pos + half * right, quat)}


def camera_poses(cfg: EnvConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Position and quaternion of every camera of the scene (each sensor's, in the frame of its mount, and
    the person's view in the world frame)."""
    out = {}
    for sensor in SENSORS:
        out.update(sensor_camera_poses(getattr(cfg.sensors, sensor.name), sensor.keys))
    overview_pos = np.array([1.55, 0.85, 0.95])
    out[VIEWER_CAMERA] = (overview_pos, look_at_quat(overview_pos, (0.45, 0.0, 0.15)))
    return out


def focal_length_px(cam: CameraConfig) -> float:
    """A camera's focal length in pixels (MuJoCo's ``fovy`` is vertical and its pixels square)."""
    return 0.5 * cam.height / float(np.tan(np.radians(cam.fovy) / 2))


def project_to_camera(cfg: EnvConfig, points, camera: str = "depth") -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(N, 2)`` (column, row; continuous, pixel centres at +0.5) and planar depth ``(N,)``
    of world ``points`` ``(N, 3)`` in one static camera of the nominal rig (before any camera pose randomization).

    Why: what the policy's camera can see is part of the task. A point is in the image when
    ``0 <= column < width``, ``0 <= row < height`` and its depth is within the sensor's ``depth_range``;
    a narrow field of view that enlarges the object on the table can leave goals above the frame (see
    ``benchmarks/camera_framing.py``). MuJoCo's ``fovy`` is vertical and its pixels square.

    Raises:
        ValueError: The camera is mounted on the robot (its pose depends on the robot's state).
    """
    cam = camera_of(cfg.sensors, camera)
    if cam.mount != "world":
        raise ValueError(f"camera {camera!r} is mounted on the {cam.mount}: its view depends on the robot's state")
    pos, quat = camera_poses(cfg)[camera]
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, quat)
    local = (np.asarray(points, float).reshape(-1, 3) - pos) @ mat.reshape(3, 3)  # camera frame; it looks along -z
    depth = -local[:, 2]
    f = focal_length_px(cam)
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = np.stack([cam.width / 2 + f * local[:, 0] / depth, cam.height / 2 - f * local[:, 1] / depth], axis=1)
    return pixels, depth


def in_camera_view(cfg: EnvConfig, points, camera: str = "depth") -> np.ndarray:
    """``(N,)`` bool: each world point projects inside the camera's image and its depth range
    (:func:`project_to_camera`)."""
    cam = camera_of(cfg.sensors, camera)
    pixels, depth = project_to_camera(cfg, points, camera)
    near, far = cam.depth_range
    return ((pixels[:, 0] >= 0) & (pixels[:, 0] < cam.width) & (pixels[:, 1] >= 0)
            & (pixels[:, 1] < cam.height) & (depth >= near) & (depth <= far))


def _add_shape(body: mujoco.MjsBody, shape, *, rgba, group: int = 0) -> None:
    common = dict(contype=ROBOT_BIT, conaffinity=OBJECT_BIT | TABLE_BIT, rgba=rgba, group=group, density=0)
    if isinstance(shape, ka.Capsule):
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[*shape.a, *shape.b], size=[shape.radius, 0, 0],
                      **common)
    elif isinstance(shape, ka.Sphere):
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, pos=shape.pos, size=[shape.radius, 0, 0], **common)
    else:
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, pos=shape.pos, size=shape.half, **common)


def _add_link(parent: mujoco.MjsBody, link: ka.Link, rgba, gravcomp: float, armature: float) -> mujoco.MjsBody:
    body = parent.add_body(name=link.name, pos=link.pos, quat=link.quat, mass=link.mass,
                           inertia=link.inertia, ipos=link.ipos, gravcomp=gravcomp, explicitinertial=True)
    if link.joint:
        body.add_joint(name=link.joint, type=mujoco.mjtJoint.mjJNT_HINGE, axis=link.axis, range=link.range,
                       limited=mujoco.mjtLimited.mjLIMITED_TRUE, armature=armature)
    static = link.joint is None and link.parent == "world"  # the arm's base, welded to the world
    for shape in link.shapes:
        _add_shape(body, shape, rgba=rgba, group=STATIC_GROUP if static else 0)
    return body


def build_spec(cfg: EnvConfig, objects: ObjectSet | None = None, only: int | None = None) -> mujoco.MjSpec:
    """Build the scene for a task config (physics rates, camera rig, servo gains, object set).

    Args:
        cfg: The task config.
        objects: Its object set (default: :func:`~dexgrasp_env.robot.object_sets.load_object_set`).
        only: For a mesh set, hold only this object's collision meshes (a C backend world's model: a world
            holds its own object, not every mesh of the set); ``None``: every mesh (the batched model).

    Returns:
        An uncompiled ``mujoco.MjSpec``; ``spec.compile()`` gives the ``MjModel``.
    """
    spec = mujoco.MjSpec()
    spec.modelname = "dexgrasp"
    spec.compiler.degree = False  # every angle here is in radians
    opt = spec.option
    opt.timestep = cfg.physics_dt
    opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
    opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    opt.iterations = 20
    opt.ls_iterations = 10
    spec.stat.extent = 2.0
    spec.stat.center = [0.4, 0.0, 0.3]
    spec.visual.map.znear = 0.01
    spec.visual.map.zfar = 10.0
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    spec.visual.headlight.diffuse = [0.3, 0.3, 0.3]
    world = spec.worldbody

    # --- lights, floor, table ----------------------------------------------------------
    world.add_light(name="key", pos=[0.8, -0.8, 2.0], dir=[-0.2, 0.4, -1.0], diffuse=[0.7, 0.7, 0.7],
                    type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=False)
    world.add_light(name="fill", pos=[-0.5, 1.0, 2.0], dir=[0.5, -0.5, -1.0], diffuse=[0.35, 0.35, 0.35],
                    type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=False)
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, pos=[0, 0, FLOOR_Z], size=[3, 3, 0.1],
                   rgba=[0.32, 0.34, 0.36, 1], contype=TABLE_BIT, conaffinity=OBJECT_BIT, group=STATIC_GROUP)
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, pos=TABLE_CENTER, size=TABLE_HALF,
                   rgba=TABLE_RGBA, contype=TABLE_BIT, conaffinity=OBJECT_BIT | ROBOT_BIT, group=STATIC_GROUP)

    # --- the arm and the hand at its flange -------------------------------------------
    rcfg = cfg.robot
    gravcomp = 1.0 if rcfg.gravity_compensation else 0.0
    bodies = {"world": world}
    for i, link in enumerate(ka.ARM_LINKS):
        rgba = ROBOT_RGBA["arm"] if i % 2 else ROBOT_RGBA["link"]
        bodies[link.name] = _add_link(bodies[link.parent], link, rgba, gravcomp, rcfg.arm_armature)
    flange = bodies["link7"].add_body(name="flange", pos=ka.FLANGE_POS, quat=ka.FLANGE_QUAT, gravcomp=gravcomp)
    flange.add_site(name="flange", size=[0.005, 0, 0])
    # a 2 cm adapter plate between the flange and the palm
    flange.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, pos=[0, 0, 0.01], size=[0.04, 0.01, 0],
                    rgba=ROBOT_RGBA["link"], contype=ROBOT_BIT, conaffinity=OBJECT_BIT | TABLE_BIT, density=0)
    mount = flange.add_body(name="hand_mount", pos=[0, 0, 0.02 + 0.095], gravcomp=gravcomp)
    bodies["flange"] = mount
    for link in ka.HAND_LINKS:
        rgba = ROBOT_RGBA["tip"] if link.name.endswith("_tip") else ROBOT_RGBA["hand"]
        bodies[link.name] = _add_link(bodies[link.parent], link, rgba, gravcomp, rcfg.finger_armature)
    bodies["palm"].add_site(name="palm", pos=[0.0107, 0.0, -0.0475], size=[0.005, 0, 0])
    for name, pos in ka.FINGERTIPS:
        bodies[name].add_site(name=name, pos=pos, size=[0.004, 0, 0])

    # --- position servos on all 23 joints -----------------------------------------------
    for j, name in enumerate(ka.ARM_JOINTS):
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=rcfg.arm_stiffness[j], kv=rcfg.arm_damping[j])
        act.ctrlrange = ka.JOINT_RANGES[j]
        act.forcerange = [-ka.ARM_TORQUE_LIMITS[j], ka.ARM_TORQUE_LIMITS[j]]
        act.ctrllimited = act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for j, name in enumerate(ka.HAND_JOINTS):
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=rcfg.finger_stiffness, kv=rcfg.finger_damping)
        act.ctrlrange = ka.JOINT_RANGES[7 + j]
        act.forcerange = [-rcfg.finger_effort_limit, rcfg.finger_effort_limit]
        act.ctrllimited = act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE

    # --- the object --------------------------------------------------------------------------
    _add_object(spec, objects if objects is not None else load_object_set(cfg), only)

    # --- the goal marker (person's view only) -------------------------------------------
    goal = world.add_body(name="goal", mocap=True, pos=[0.6, 0.0, 0.3])
    goal.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.02, 0, 0], rgba=[0.1, 0.9, 0.2, 0.5],
                  contype=0, conaffinity=0, group=GOAL_GROUP, density=0)

    # --- cameras: every sensor's on its mount, and the person's view ----------------------------
    mounts = {"world": world, "palm": bodies["palm"]}
    for name, (pos, quat) in camera_poses(cfg).items():
        if name == VIEWER_CAMERA:
            world.add_camera(name=name, pos=pos, quat=quat, fovy=45.0)
            continue
        cam = camera_of(cfg.sensors, name)
        mounts[cam.mount].add_camera(name=name, pos=pos, quat=quat, fovy=cam.fovy)
    return spec


def build_model(cfg: EnvConfig, objects: ObjectSet | None = None, only: int | None = None) -> mujoco.MjModel:
    """Compile :func:`build_spec` into an ``MjModel``."""
    return build_spec(cfg, objects, only).compile()


# ------------------------------------------------------------------------------------------------
# the object body
# ------------------------------------------------------------------------------------------------
# priority 1: every contact with the object uses the object's own (randomised) friction coefficients;
# with equal priorities MuJoCo would take the larger of the two geoms' values
_OBJECT_CONTACT = dict(contype=OBJECT_BIT, conaffinity=TABLE_BIT | ROBOT_BIT, condim=4, density=0,
                       friction=[1.0, 0.01, 0.0001], priority=1)


def object_geom_names(objects: ObjectSet) -> tuple[str, ...]:
    """Names of the object body's geoms: one per primitive kind, or the collision then the render slots."""
    if not objects.is_mesh:
        return tuple(f"object_{k}" for k in KINDS)
    return (tuple(f"object_c{j}" for j in range(objects.collision_slots))
            + tuple(f"object_v{j}" for j in range(objects.visual_slots)))


def _mesh_names(k: int, obj) -> tuple[list[str], list[str]]:
    """Names of object ``k``'s collision meshes and of the meshes its render slots show."""
    coll = [f"o{k}_c{j}" for j in range(len(obj.collision))]
    vis = [f"o{k}_v{j}" for j in range(len(obj.visual))] or coll
    return coll, vis


def _add_object_meshes(spec: mujoco.MjSpec, k: int, obj, visual: bool) -> None:
    coll, vis = _mesh_names(k, obj)
    for name, v in zip(coll, obj.collision):
        spec.add_mesh(name=name, uservert=v.reshape(-1).tolist(), maxhullvert=MAX_HULL_VERTICES)
    if visual:
        for name, (v, f) in zip(vis if obj.visual else (), obj.visual):
            spec.add_mesh(name=name, uservert=v.reshape(-1).tolist(), userface=f.reshape(-1).tolist(),
                          inertia=mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL)


def _slot_meshes(objects: ObjectSet, k: int, only: int | None) -> tuple[list[str], list[bool], list[str]]:
    """Per slot, the mesh object ``k`` puts there and whether a collision slot is used.

    Unused collision slots hold piece 0 (and take no contacts: dataid -1 in a batched world, contype 0 in a
    world's own model); unused render slots show render piece 0 again, where it already is.
    """
    coll, vis = _mesh_names(k, objects.meshes[k])
    if only is not None:  # a world's own model holds no render meshes: its render slots are never drawn
        vis = coll
    nc, nv = objects.collision_slots, objects.visual_slots
    return ([coll[j] if j < len(coll) else coll[0] for j in range(nc)], [j < len(coll) for j in range(nc)],
            [vis[j] if j < len(vis) else vis[0] for j in range(nv)])


def _add_object(spec: mujoco.MjSpec, objects: ObjectSet, only: int | None) -> None:
    if not objects.is_mesh:  # one geom per kind, all but one hidden in every world
        obj = spec.worldbody.add_body(name="object", pos=[0.6, 0.0, 0.1], mass=0.1, inertia=[4e-5, 4e-5, 4e-5],
                                      ipos=[0, 0, 0], explicitinertial=True)
        obj.add_freejoint(name="object")
        geom_types = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
                      "sphere": mujoco.mjtGeom.mjGEOM_SPHERE, "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE}
        for kind in KINDS:
            obj.add_geom(name=f"object_{kind}", type=geom_types[kind], size=[HIDDEN_SIZE] * 3, rgba=OBJECT_RGBA,
                         **_OBJECT_CONTACT)
        return
    k0 = 0 if only is None else only
    first = objects.meshes[k0]
    body = spec.worldbody.add_body(name="object", pos=[0.6, 0.0, 0.1], mass=first.mass, inertia=first.inertia,
                                   ipos=first.ipos, iquat=first.iquat, explicitinertial=True)
    body.add_freejoint(name="object")
    for k, obj in enumerate(objects.meshes):
        if only is None or k == only:
            _add_object_meshes(spec, k, obj, visual=only is None)
    coll, used, vis = _slot_meshes(objects, k0, only)
    for j, (mesh, on) in enumerate(zip(coll, used)):
        contact = _OBJECT_CONTACT if on or only is None else {**_OBJECT_CONTACT, "contype": 0, "conaffinity": 0}
        body.add_geom(name=f"object_c{j}", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh, group=COLLISION_GROUP,
                      rgba=OBJECT_RGBA, **contact)
    for j, mesh in enumerate(vis):
        body.add_geom(name=f"object_v{j}", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh, rgba=OBJECT_RGBA,
                      contype=0, conaffinity=0, density=0)


def mesh_slot_table(objects: ObjectSet, mjm: mujoco.MjModel) -> dict[str, np.ndarray]:
    """Per object, the :data:`SLOT_FIELDS` rows of the object's slot geoms in the batched model ``mjm``.

    ``out[name][k]`` is what world's slots hold when it holds object ``k`` (mesh ids of ``mjm``; unused
    collision slots: dataid -1, no extent). Each object's rows come from compiling its slots alone:
    a mesh geom's frame, size and bounds depend only on its mesh.
    """
    names = object_geom_names(objects)
    rows: dict[str, list] = {f: [] for f in SLOT_FIELDS}
    for k, obj in enumerate(objects.meshes):
        spec = mujoco.MjSpec()
        _add_object_meshes(spec, k, obj, visual=True)
        body = spec.worldbody.add_body(name="o")
        coll, used, vis = _slot_meshes(objects, k, None)
        for mesh in coll + vis:
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh, contype=0, conaffinity=0, density=0)
        small = spec.compile()
        dataid = np.array([mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_MESH, m) for m in coll + vis])
        if (dataid < 0).any():
            raise RuntimeError(f"object {obj.name!r}: the batched model lacks its meshes")
        off = ~np.array(used + [True] * len(vis))
        dataid[off] = -1
        aabb = small.geom_aabb.copy()
        rbound, size = small.geom_rbound.copy(), small.geom_size.copy()
        aabb[off], rbound[off], size[off] = 0.0, 0.0, 0.0
        for f, v in zip(SLOT_FIELDS, (dataid, small.geom_pos, small.geom_quat, size, aabb, rbound)):
            rows[f].append(np.asarray(v).reshape(len(names), -1).squeeze(-1) if f in ("geom_dataid", "geom_rbound")
                           else np.asarray(v).reshape(len(names), -1))
    return {f: np.stack(v) for f, v in rows.items()}
