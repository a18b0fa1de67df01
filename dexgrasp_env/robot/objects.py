"""The ``primitives`` object set: 16 primitive shapes (boxes, cylinders, spheres, capsules) of several sizes.

Geom types cannot differ between the worlds of one batched model, so the object body carries one
geom of each kind; in every world one of them is *active* (its real size) and the other three
shrink to a millimetre inside it, where they touch nothing and cannot be seen. The functions
here are batched torch functions over worlds: they give the geom size, bounding box, bounding
radius and inertia that a world's active shape needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Geom kinds in the order of the object's geoms.
KINDS: tuple[str, ...] = ("box", "cylinder", "sphere", "capsule")
BOX, CYLINDER, SPHERE, CAPSULE = range(4)
#: Size of an inactive geom (m).
HIDDEN_SIZE = 1e-3


@dataclass(frozen=True)
class Shape:
    """One object: its geom kind, MuJoCo size triple and nominal mass (kg).

    Sizes follow MuJoCo: box half extents; cylinder and capsule (radius, half length); sphere radius.
    """

    name: str
    kind: int
    size: tuple[float, float, float]
    mass: float


SHAPES: tuple[Shape, ...] = (
    Shape("cube_small", BOX, (0.025, 0.025, 0.025), 0.10),
    Shape("cube_large", BOX, (0.032, 0.032, 0.032), 0.16),
    Shape("box_tall", BOX, (0.022, 0.022, 0.045), 0.12),
    Shape("box_flat", BOX, (0.045, 0.030, 0.018), 0.12),
    Shape("cylinder_small", CYLINDER, (0.025, 0.035, 0.0), 0.10),
    Shape("cylinder_tall", CYLINDER, (0.022, 0.050, 0.0), 0.12),
    Shape("cylinder_wide", CYLINDER, (0.038, 0.025, 0.0), 0.14),
    Shape("cylinder_large", CYLINDER, (0.032, 0.040, 0.0), 0.16),
    Shape("sphere_small", SPHERE, (0.025, 0.0, 0.0), 0.10),
    Shape("sphere_medium", SPHERE, (0.030, 0.0, 0.0), 0.12),
    Shape("sphere_large", SPHERE, (0.035, 0.0, 0.0), 0.14),
    Shape("sphere_xlarge", SPHERE, (0.040, 0.0, 0.0), 0.16),
    Shape("capsule_small", CAPSULE, (0.020, 0.030, 0.0), 0.10),
    Shape("capsule_large", CAPSULE, (0.025, 0.040, 0.0), 0.14),
    Shape("capsule_thin", CAPSULE, (0.015, 0.045, 0.0), 0.10),
    Shape("capsule_fat", CAPSULE, (0.030, 0.020, 0.0), 0.16),
)
SHAPE_NAMES: tuple[str, ...] = tuple(s.name for s in SHAPES)


def half_extents(kind: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Half extents of each geom's axis-aligned box in its own frame, shape ``(N, 3)``."""
    r, h = size[:, 0], size[:, 1]
    return torch.stack(
        [
            torch.where(kind == BOX, size[:, 0], r),
            torch.where(kind == BOX, size[:, 1], r),
            torch.where(kind == BOX, size[:, 2], torch.where(kind == SPHERE, r, torch.where(kind == CAPSULE, r + h, h))),
        ],
        dim=1,
    )


def bounding_radius(kind: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Radius of each geom's bounding sphere about its centre, shape ``(N,)``."""
    r, h = size[:, 0], size[:, 1]
    cyl = torch.sqrt(r * r + h * h)
    return torch.where(
        kind == BOX, size.norm(dim=1), torch.where(kind == SPHERE, r, torch.where(kind == CAPSULE, r + h, cyl))
    )


def inertia(kind: torch.Tensor, size: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    """Principal moments of inertia of solid shapes of uniform density, shape ``(N, 3)``.

    The same formulas MuJoCo's compiler uses for primitive geoms.
    """
    m = mass
    x, y, z = size[:, 0], size[:, 1], size[:, 2]
    box = torch.stack([m * (y * y + z * z) / 3, m * (x * x + z * z) / 3, m * (x * x + y * y) / 3], dim=1)
    r, hh = size[:, 0], size[:, 1]
    height = 2 * hh
    cyl_xy = m * (3 * r * r + height * height) / 12
    cyl = torch.stack([cyl_xy, cyl_xy, m * r * r / 2], dim=1)
    sph = (2 * m * r * r / 5).unsqueeze(1).expand(-1, 3)
    # capsule: a cylinder and two hemispheres sharing the mass by volume
    sphere_mass = m * 4 * r / (4 * r + 3 * height)
    cyl_mass = m - sphere_mass
    cap_xy = (
        cyl_mass * (3 * r * r + height * height) / 12
        + 2 * sphere_mass * r * r / 5
        + sphere_mass * height * (3 * r + 2 * height) / 8
    )
    cap = torch.stack([cap_xy, cap_xy, cyl_mass * r * r / 2 + 2 * sphere_mass * r * r / 5], dim=1)
    k = kind.unsqueeze(1)
    return torch.where(k == BOX, box, torch.where(k == CYLINDER, cyl, torch.where(k == SPHERE, sph, cap)))


def rest_height(kind: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Height of the centre above the table when resting in the spawn pose (capsules lie down)."""
    r, h = size[:, 0], size[:, 1]
    return torch.where(kind == BOX, size[:, 2], torch.where(kind == CYLINDER, h, r))
