"""Kinematic and inertial facts of the Kuka LBR iiwa 14 arm and the Wonik Allegro right hand.

The numbers are the public kinematic facts of the two robots (link offsets, joint axes and
ranges, masses, inertias) as listed in the project's reference sheet. The geometry is the
project's own: primitive capsules, spheres and boxes fitted to each link's extent. No mesh or
model file of another project is used.

Conventions: positions in metres, angles in radians, quaternions ``(w, x, y, z)``, masses in kg,
inertias as principal moments in kg m^2 about the centre of mass ``ipos``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


@dataclass(frozen=True)
class Capsule:
    """A capsule between two points (body frame) of a given radius."""

    a: Vec3
    b: Vec3
    radius: float


@dataclass(frozen=True)
class Sphere:
    """A sphere at a point (body frame)."""

    pos: Vec3
    radius: float


@dataclass(frozen=True)
class Box:
    """A box given by its centre (body frame) and half extents."""

    pos: Vec3
    half: Vec3


@dataclass(frozen=True)
class Link:
    """One rigid link: its frame relative to the parent, its inertia, joint and collision shapes."""

    name: str
    parent: str
    pos: Vec3
    quat: Quat
    mass: float
    inertia: Vec3
    ipos: Vec3
    joint: str | None = None
    axis: Vec3 = (0.0, 0.0, 1.0)
    range: tuple[float, float] = (0.0, 0.0)
    shapes: tuple[Capsule | Sphere | Box, ...] = field(default_factory=tuple)


_H = 0.70711  # cos(45 deg) as given by the reference

# --- Kuka LBR iiwa 14 ---------------------------------------------------------------------
# Collision: the reference approximates each link by clusters of spheres; we fit one or two
# capsules (or a sphere) through each cluster, radius that of the cluster's spheres.
ARM_LINKS: tuple[Link, ...] = (
    Link("base", "world", (0, 0, 0), (1, 0, 0, 0), 5.0, (0.05, 0.06, 0.03), (-0.1, 0, 0.07),
         shapes=(Capsule((0, 0, 0.03), (0, 0, 0.14), 0.11), Capsule((-0.08, 0, 0.04), (-0.08, 0, 0.103), 0.08))),
    Link("link1", "base", (0, 0, 0.1575), (1, 0, 0, 0), 5.76, (0.0333, 0.033, 0.0123), (0, -0.03, 0.12),
         "joint1", (0, 0, 1), (-2.9671, 2.9671),
         (Capsule((0, 0, 0.0), (0, -0.045, 0.1025), 0.075),)),
    Link("link2", "link1", (0, 0, 0.2025), (0, 0, _H, _H), 6.35, (0.0305, 0.0304, 0.011), (0.0003, 0.059, 0.042),
         "joint2", (0, 0, 1), (-2.0944, 2.0944),
         (Capsule((0, 0, -0.01), (0, 0, 0.045), 0.09), Capsule((0, 0.04, 0.054), (0, 0.18, 0.0), 0.07))),
    Link("link3", "link2", (0, 0.2045, 0), (0, 0, _H, _H), 3.5, (0.025, 0.0238, 0.0076), (0, 0.03, 0.13),
         "joint3", (0, 0, 1), (-2.9671, 2.9671),
         (Capsule((0, 0, 0.0355), (0, 0.05, 0.1755), 0.06), Capsule((0, 0, 0.2155), (0, 0.045, 0.2155), 0.075))),
    Link("link4", "link3", (0, 0, 0.2155), (_H, _H, 0, 0), 3.5, (0.017, 0.0164, 0.006), (0, 0.067, 0.034),
         "joint4", (0, 0, 1), (-2.0944, 2.0944),
         (Capsule((0, 0.01, 0.046), (0, 0.12, 0.034), 0.065), Sphere((0, 0.184, 0), 0.075))),
    Link("link5", "link4", (0, 0.1845, 0), (0, 0, _H, _H), 3.5, (0.01, 0.0087, 0.00449), (0.0001, 0.021, 0.076),
         "joint5", (0, 0, 1), (-2.9671, 2.9671),
         (Sphere((0, 0, 0.0335), 0.075), Capsule((0, 0.031, 0.0755), (0, 0.065, 0.1855), 0.045))),
    Link("link6", "link5", (0, 0, 0.2155), (_H, _H, 0, 0), 1.8, (0.0049, 0.0047, 0.0036), (0, 0.0006, 0.0004),
         "joint6", (0, 0, 1), (-2.0944, 2.0944),
         (Sphere((0, 0, 0), 0.08), Capsule((0, 0, -0.059), (0, -0.03, 0.011), 0.06))),
    Link("link7", "link6", (0, 0.081, 0), (0, 0, _H, _H), 1.2, (0.001, 0.001, 0.001), (0, 0, 0.02),
         "joint7", (0, 0, 1), (-3.0543, 3.0543),
         (Capsule((0, 0, 0.0), (0, 0, 0.02), 0.06),)),
)
# The flange ("attachment" in the reference): 0.045 m above link7, turned 180 deg about z.
FLANGE_POS: Vec3 = (0.0, 0.0, 0.045)
FLANGE_QUAT: Quat = (0.0, 0.0, 0.0, 1.0)
#: Height of the flange above the arm base with every joint at zero: the sum of the link offsets.
FLANGE_HEIGHT_AT_ZERO = 0.1575 + 0.2025 + 0.2045 + 0.2155 + 0.1845 + 0.2155 + 0.081 + 0.045

# Torque limits of the iiwa 14 joints (N m).
ARM_TORQUE_LIMITS = (320.0, 320.0, 176.0, 176.0, 110.0, 40.0, 40.0)

# --- Wonik Allegro right hand ---------------------------------------------------------------
_FINGER_BASE_INERTIA = dict(mass=0.007232, inertia=(7.6538e-07, 6.8884e-07, 3.5505e-07),
                            ipos=(-0.00077813, -1.0287e-05, 0.0082825))
_PROXIMAL = dict(mass=0.02728, inertia=(1.1862e-05, 1.1277e-05, 2.2659e-06), ipos=(2.7523e-08, -9.0596e-05, 0.027))
_MEDIAL = dict(mass=0.01846, inertia=(4.2873e-06, 3.6356e-06, 1.6737e-06), ipos=(-0.00019288, -7.7904e-05, 0.022586))
_DISTAL = dict(mass=0.007512, inertia=(7.9638e-07, 7.2817e-07, 3.7775e-07), ipos=(-0.00052081, -3.325e-06, 0.0072513))
_TIP = dict(mass=0.01303, inertia=(1.9356e-06, 1.9356e-06, 8.5469e-07), ipos=(0, 0, 0.019))

_FINGER_RANGES = ((-0.47, 0.47), (-0.196, 1.61), (-0.174, 1.709), (-0.227, 1.618))
_THUMB_RANGES = ((0.263, 1.396), (-0.105, 1.163), (-0.189, 1.644), (-0.162, 1.719))


def _finger(prefix: str, base_pos: Vec3, base_quat: Quat) -> tuple[Link, ...]:
    r = _FINGER_RANGES
    return (
        Link(f"{prefix}_base", "palm", base_pos, base_quat, **_FINGER_BASE_INERTIA, joint=f"{prefix}j0",
             axis=(0, 0, 1), range=r[0], shapes=(Box((0, 0, 0.0082), (0.0098, 0.01375, 0.0082)),)),
        Link(f"{prefix}_proximal", f"{prefix}_base", (0, 0, 0.0164), (1, 0, 0, 0), **_PROXIMAL, joint=f"{prefix}j1",
             axis=(0, 1, 0), range=r[1], shapes=(Box((0, 0, 0.027), (0.0098, 0.01375, 0.027)),)),
        Link(f"{prefix}_medial", f"{prefix}_proximal", (0, 0, 0.054), (1, 0, 0, 0), **_MEDIAL, joint=f"{prefix}j2",
             axis=(0, 1, 0), range=r[2], shapes=(Box((0, 0, 0.0192), (0.0098, 0.01375, 0.0192)),)),
        Link(f"{prefix}_distal", f"{prefix}_medial", (0, 0, 0.0384), (1, 0, 0, 0), **_DISTAL, joint=f"{prefix}j3",
             axis=(0, 1, 0), range=r[3], shapes=(Box((0, 0, 0.008), (0.0098, 0.01375, 0.008)),)),
        Link(f"{prefix}_tip", f"{prefix}_distal", (0, 0, 0), (1, 0, 0, 0), **_TIP,
             shapes=(Capsule((0, 0, 0.009), (0, 0, 0.029), 0.012),)),
    )


HAND_PALM = Link("palm", "flange", (0, 0, 0), (1, 0, 0, 0), 0.3514, (0.0004477, 0.00030067, 0.00024355),
                 (-0.0089856, -0.0039571, -0.040269), shapes=(Box((-0.0093, 0, -0.0475), (0.0204, 0.0565, 0.0475)),))
HAND_LINKS: tuple[Link, ...] = (
    HAND_PALM,
    *_finger("ff", (0, 0.0435, -0.001542), (0.99905, -0.043619, 0, 0)),
    *_finger("mf", (0, 0, 0.0007), (1, 0, 0, 0)),
    *_finger("rf", (0, -0.0435, -0.001542), (0.99905, 0.043619, 0, 0)),
    Link("th_base", "palm", (-0.0182, 0.019333, -0.045987), (0.47771, -0.52133, -0.52133, -0.47771), 0.03826,
         (1.0753e-05, 9.1656e-06, 7.1091e-06), (-0.017915, 0.0080244, 0.012314), "thj0", (-1, 0, 0), _THUMB_RANGES[0],
         (Box((-0.0179, 0.009, 0.0145), (0.0179, 0.017, 0.02275)),)),
    Link("th_proximal", "th_base", (-0.027, 0.005, 0.0399), (1, 0, 0, 0), 0.007219, (7.6375e-07, 6.874e-07, 3.5393e-07),
         (-0.00078203, -1.0249e-05, 0.0081045), "thj1", (0, 0, 1), _THUMB_RANGES[1],
         (Box((0, 0, 0.00885), (0.0098, 0.01375, 0.00885)),)),
    Link("th_medial", "th_proximal", (0, 0, 0.0177), (1, 0, 0, 0), 0.0225, (7.5276e-06, 6.5833e-06, 2.1411e-06),
         (-0.00016434, 1.7148e-05, 0.021112), "thj2", (0, 1, 0), _THUMB_RANGES[2],
         (Box((0, 0, 0.0257), (0.0098, 0.01375, 0.0257)),)),
    Link("th_distal", "th_medial", (0, 0, 0.0514), (1, 0, 0, 0), 0.01633, (2.9138e-06, 2.5902e-06, 1.3565e-06),
         (0.0, 3.6771e-06, 0.013075), "thj3", (0, 1, 0), _THUMB_RANGES[3],
         (Box((0, 0, 0.0157), (0.0098, 0.01375, 0.0157)),)),
    Link("th_tip", "th_distal", (0, 0, 0), (1, 0, 0, 0), 0.01158, (1.4531e-06, 1.4531e-06, 7.5046e-07), (0, 0, 0.035),
         shapes=(Capsule((0, 0, 0.027), (0, 0, 0.043), 0.012),)),
)
#: Fingertip bodies, thumb last, and the point on each (body frame) used as "the fingertip".
FINGERTIPS: tuple[tuple[str, Vec3], ...] = (
    ("ff_tip", (0, 0, 0.029)),
    ("mf_tip", (0, 0, 0.029)),
    ("rf_tip", (0, 0, 0.029)),
    ("th_tip", (0, 0, 0.043)),
)

ARM_JOINTS: tuple[str, ...] = tuple(link.joint for link in ARM_LINKS if link.joint)
HAND_JOINTS: tuple[str, ...] = tuple(link.joint for link in HAND_LINKS if link.joint)
JOINTS: tuple[str, ...] = ARM_JOINTS + HAND_JOINTS
JOINT_RANGES: np.ndarray = np.array(
    [link.range for link in ARM_LINKS + HAND_LINKS if link.joint], dtype=np.float64
)
assert len(JOINTS) == 23 and JOINT_RANGES.shape == (23, 2)
