"""The robot's sensors: named cameras, declared once (every camera name of the package is written here).

A *sensor* is a camera (or a rigid pair of cameras) with its own mount, pose, field of view, image
size and depth range (:class:`CameraConfig`). :data:`SENSORS` lists them; each gives the observation
keys it renders, which are also the names of its cameras in the MJCF scene:

==========  ============  ===================  =============================================================
sensor      kind          observation keys     what it is
==========  ============  ===================  =============================================================
``depth``   depth         ``depth``            the static depth camera looking at the table (the paper's)
``stereo``  stereo_rgb    ``left``, ``right``  a static RGB pair ``stereo_baseline`` apart (DextrAH-RGB's)
``wrist``   depth         ``wrist_depth``      a depth camera on the wrist that moves with the palm
==========  ============  ===================  =============================================================

Why each sensor has its own configuration: a policy sees the world through one sensor, and a
teacher through another. A 32x32, 30-degree depth teacher must label for 64x64 stereo students from
exactly the view it was trained on, rendered from the same world in the same step. The environment
renders every sensor whose keys it is asked for, each with its own configuration
(:attr:`dexgrasp_env.config.EnvConfig.sensors`).

Adding a sensor: a field of :class:`SensorsConfig` and a line of :data:`SENSORS` (and, for a new
observation mode, a line of :data:`OBS_MODE_SENSORS`); the scene, the renderers, the spaces, the
randomization and the video read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

Range = tuple[float, float]
MOUNTS: tuple[str, ...] = ("world", "palm")
Mount = Literal[MOUNTS]
SensorKind = Literal["depth", "stereo_rgb"]


@dataclass(frozen=True)
class CameraConfig:
    """One sensor's camera: mount, pose, field of view, image size and depth range."""

    width: int = 160
    """Image width in pixels (the paper uses 160x120 and 320x240)."""
    height: int = 120
    """Image height in pixels."""
    fovy: float = 50.0
    """Vertical field of view in degrees."""
    position: tuple[float, float, float] = (1.30, -0.45, 0.60)
    """Position of the camera (the middle of a stereo pair) in the frame of its mount (m)."""
    target: tuple[float, float, float] = (0.60, 0.0, 0.05)
    """Point the camera looks at, in the frame of its mount (m)."""
    mount: Mount = "world"
    """``world``: a static camera, pose in the world frame. ``palm``: fixed to the palm body (a wrist camera),
    pose in the palm's frame, so it moves with the hand."""
    stereo_baseline: float = 0.06
    """Distance between the two cameras of a stereo pair along the camera's horizontal axis (m)."""
    depth_range: Range = (0.3, 1.6)
    """Depth is clipped to this range (m); pixels that see nothing read the far end."""

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ValueError(f"camera resolution {self.width}x{self.height} is below 8x8")
        if not 0.0 < self.fovy < 180.0:
            raise ValueError(f"camera fovy={self.fovy!r} must be in (0, 180) degrees")
        if self.mount not in MOUNTS:
            raise ValueError(f"camera mount={self.mount!r} is unknown; expected one of {MOUNTS}")
        if not 0.0 < self.depth_range[0] < self.depth_range[1]:
            raise ValueError(f"camera depth_range={self.depth_range!r} must be a range 0 < near < far (m)")
        if tuple(self.position) == tuple(self.target):
            raise ValueError(f"camera position and target are the same point {self.position!r}")


WRIST_CAMERA = CameraConfig(width=32, height=32, fovy=75.0, position=(0.045, 0.0, -0.10), target=(0.25, 0.0, 0.02),
                            mount="palm", depth_range=(0.04, 1.2))
"""The wrist camera's default: at the wrist end of the palm, 3.5 cm out from the palm's face (clear of the
flange), looking away from the palm and along the fingers, at where they close; the thumb is at the
image's edge. 32x32 as mjlab's depth lift. Palm frame: ``x`` out of the palm's face (down at the start
pose), ``z`` from the wrist towards the fingers."""


@dataclass(frozen=True)
class SensorsConfig:
    """Every sensor's configuration. Only the sensors whose keys an environment observes are rendered."""

    depth: CameraConfig = field(default_factory=CameraConfig)
    """The static depth camera (key ``depth``)."""
    stereo: CameraConfig = field(default_factory=CameraConfig)
    """The static stereo RGB pair (keys ``left``, ``right``)."""
    wrist: CameraConfig = field(default_factory=lambda: WRIST_CAMERA)
    """The depth camera on the wrist (key ``wrist_depth``)."""

    @staticmethod
    def static(camera: CameraConfig) -> SensorsConfig:
        """The static sensors (the depth camera and the stereo pair) both as ``camera``; the wrist camera its
        default (the one camera rig of versions before 2026-12-07)."""
        return SensorsConfig(depth=camera, stereo=camera)


@dataclass(frozen=True)
class Sensor:
    """A sensor's identity: its name (a :class:`SensorsConfig` field), kind and observation keys."""

    name: str
    kind: SensorKind
    keys: tuple[str, ...]
    """Observation keys, which are also the names of its cameras in the scene."""


SENSORS: tuple[Sensor, ...] = (
    Sensor("depth", "depth", ("depth",)),
    Sensor("stereo", "stereo_rgb", ("left", "right")),
    Sensor("wrist", "depth", ("wrist_depth",)),
)
VIEWER_CAMERA = "overview"
"""The person's view (videos): not a sensor, never observed by a policy."""
OBS_MODE_SENSORS: dict[str, tuple[str, ...]] = {
    "state": (), "depth": ("depth",), "stereo_rgb": ("stereo",), "wrist_depth": ("wrist",),
}
"""The sensors each observation mode's policy reads (with ``proprio``, except ``state``)."""
STATIC_SENSORS: tuple[str, ...] = ("depth", "stereo")
"""The sensors fixed in the world (the rig of versions before 2026-12-07, which had one configuration)."""

SENSOR_BY_NAME: dict[str, Sensor] = {s.name: s for s in SENSORS}
SENSOR_OF_KEY: dict[str, Sensor] = {k: s for s in SENSORS for k in s.keys}
IMAGE_KEYS: tuple[str, ...] = tuple(SENSOR_OF_KEY)
"""Every image key, in :data:`SENSORS` order."""
DEPTH_KEYS: tuple[str, ...] = tuple(k for k, s in SENSOR_OF_KEY.items() if s.kind == "depth")
RGB_KEYS: tuple[str, ...] = tuple(k for k, s in SENSOR_OF_KEY.items() if s.kind != "depth")
STEREO_KEYS: tuple[str, str] = SENSOR_BY_NAME["stereo"].keys
"""The stereo pair's keys (left, right): the encoder reads them together."""
POLICY_CAMERAS: tuple[str, ...] = IMAGE_KEYS
CAMERAS: tuple[str, ...] = IMAGE_KEYS + (VIEWER_CAMERA,)
"""Every camera of the scene."""

assert {f.name for f in fields(SensorsConfig)} == set(SENSOR_BY_NAME), "SENSORS and SensorsConfig disagree"


def camera_of(sensors: SensorsConfig, key: str) -> CameraConfig:
    """The configuration of the sensor that renders observation key ``key``."""
    return getattr(sensors, SENSOR_OF_KEY[key].name)


def sensors_of_keys(keys) -> tuple[Sensor, ...]:
    """The sensors (in :data:`SENSORS` order) whose keys appear in ``keys``."""
    keys = set(keys)
    return tuple(s for s in SENSORS if keys & set(s.keys))
