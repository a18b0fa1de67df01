"""A seeded generator of graspable shapes, each a union of convex pieces (so it needs no decomposition).

Four families, drawn in turn by the object's own random stream (``numpy``'s PCG64 seeded by
``(seed, index)``, so object ``i`` of a seed is the same whatever ``count`` is):

* ``polytope``: the convex hull of 10-24 random points on an ellipsoid (a pebble with facets);
* ``superellipsoid``: ``|x/a|^(2/e) + ...`` with ``e`` in ``[0.25, 1]`` (box-like to round; convex);
* ``revolution``: a bottle or vase, a profile ``r(z)`` swept around ``z``, cut into stacked frusta
  (each frustum is convex, the shape is not);
* ``union``: two or three boxes or ellipsoids joined into an L, a T or a dumbbell.

Every shape is scaled so that its largest extent lies in ``ProceduralConfig.size`` and its
smallest in ``[min_thickness, ...]``: small enough for the Allegro hand to close around, large enough
to be found.
"""

from __future__ import annotations

import math

import numpy as np

from dexgrasp_env.config import ProceduralConfig

_RING = 12  # vertices around a ring of a revolution or superellipsoid piece


def _ellipsoid_points(rng: np.random.Generator, count: int, radii: np.ndarray) -> np.ndarray:
    d = rng.normal(size=(count, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True) * radii


def _superellipsoid(radii: np.ndarray, e: float, rings: int = 5) -> np.ndarray:
    """Surface points of a superellipsoid (``rings`` latitudes x 12 longitudes + the poles): <= 62 points."""
    def spow(x, p):
        return np.sign(x) * np.abs(x) ** p

    pts = [(0.0, 0.0, radii[2]), (0.0, 0.0, -radii[2])]
    for i in range(1, rings + 1):
        v = -math.pi / 2 + math.pi * i / (rings + 1)
        for j in range(_RING):
            u = -math.pi + 2 * math.pi * j / _RING
            pts.append((radii[0] * spow(math.cos(v), e) * spow(math.cos(u), e),
                        radii[1] * spow(math.cos(v), e) * spow(math.sin(u), e), radii[2] * spow(math.sin(v), e)))
    return np.asarray(pts)


def _ring(radius: float, z: float) -> np.ndarray:
    a = np.linspace(0.0, 2 * math.pi, _RING, endpoint=False)
    return np.stack([radius * np.cos(a), radius * np.sin(a), np.full(_RING, z)], axis=1)


def _box(half: np.ndarray, centre: np.ndarray) -> np.ndarray:
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    return corners * half + centre


def _family_pieces(rng: np.random.Generator, family: str, max_parts: int) -> list[np.ndarray]:
    """Convex pieces of one shape of ``family`` at unit scale (roughly in [-1, 1]^3)."""
    if family == "polytope":
        return [_ellipsoid_points(rng, int(rng.integers(10, 25)), rng.uniform(0.5, 1.0, 3))]
    if family == "superellipsoid":
        return [_superellipsoid(rng.uniform(0.5, 1.0, 3), float(rng.uniform(0.25, 1.0)))]
    if family == "revolution":
        parts = int(rng.integers(2, max(2, max_parts) + 1))
        z = np.linspace(-1.0, 1.0, parts + 1)
        radius = rng.uniform(0.35, 0.8, parts + 1)
        return [np.concatenate([_ring(radius[k], z[k]), _ring(radius[k + 1], z[k + 1])]) for k in range(parts)]
    # union: a main part and one or two others attached at its surface
    parts = int(rng.integers(2, max(2, max_parts) + 1))
    main_half = rng.uniform([0.25, 0.25, 0.6], [0.5, 0.5, 1.0])
    pieces = [_box(main_half, np.zeros(3))]
    for _ in range(parts - 1):
        half = rng.uniform(0.2, 0.45, 3)
        axis = int(rng.integers(0, 3))
        centre = np.zeros(3)
        centre[axis] = rng.choice([-1.0, 1.0]) * (main_half[axis] + 0.5 * half[axis])
        centre[(axis + 1) % 3] = rng.uniform(-0.5, 0.5) * main_half[(axis + 1) % 3]
        pieces.append(_box(half, centre) if rng.uniform() < 0.5 else
                      _ellipsoid_points(rng, 24, half * 1.2) + centre)
    return pieces


def _scale_to_size(pieces: list[np.ndarray], rng: np.random.Generator, cfg: ProceduralConfig) -> list[np.ndarray]:
    pts = np.concatenate(pieces)
    centre = 0.5 * (pts.min(0) + pts.max(0))
    extent = pts.max(0) - pts.min(0)
    target = rng.uniform(*cfg.size)
    scale = np.full(3, target / extent.max())
    # keep every axis at least min_thickness thick (a sheet cannot be picked up from a table)
    scale = np.maximum(scale, cfg.min_thickness / np.maximum(extent, 1e-9))
    return [(p - centre) * scale for p in pieces]


def _stable(pieces: list[np.ndarray]) -> list[np.ndarray]:
    """The pieces turned into the shape's most probable resting pose on a plane.

    A body on a table rests on a face of its convex hull; without this a pebble spawned on a vertex
    topples in the first steps and its rest height (what ``lifted`` is measured from) is wrong.
    """
    import trimesh

    hull = trimesh.PointCloud(np.concatenate(pieces)).convex_hull
    transforms, _ = trimesh.poses.compute_stable_poses(hull, n_samples=1, threshold=0.0)
    rot = transforms[0][:3, :3]
    return [p @ rot.T for p in pieces]


def generate(cfg: ProceduralConfig) -> list[tuple[str, str, list[np.ndarray]]]:
    """The set: ``(name, family, convex pieces as vertex arrays in metres, resting pose)`` per object."""
    out = []
    for i in range(cfg.count):
        rng = np.random.Generator(np.random.PCG64([cfg.seed, i]))
        family = cfg.families[i % len(cfg.families)]
        pieces = _stable(_scale_to_size(_family_pieces(rng, family, cfg.max_parts), rng, cfg))
        out.append((f"proc{cfg.seed}_{i:03d}_{family}", family, pieces))
    return out
