"""Configuration of the grasp-and-lift task, its cameras, randomization and the simulator pool.

Every config is a frozen dataclass. Build one with a factory (:func:`make_env_config`) and
change it with :func:`replace` (``dataclasses.replace`` that also takes plain data for nested configs);
the training scripts nest the same dataclasses in
their command-line arguments, so no setting is defined twice.

Example:
    >>> from dexgrasp_env.config import make_env_config, replace
    >>> cfg = make_env_config("depth")
    >>> cfg = replace(cfg, sensors=dict(depth=dict(width=64, height=48)))   # plain data for nested configs
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from dexgrasp_env.sensors import (
    IMAGE_KEYS, OBS_MODE_SENSORS, SENSOR_BY_NAME, STATIC_SENSORS, CameraConfig, SensorsConfig, sensors_of_keys,
)

# Each list of allowed values is declared once, as a tuple (what error messages and checks read); its Literal
# type (what tyro's --help and type checkers read) is made from it.
OBS_MODES: tuple[str, ...] = tuple(OBS_MODE_SENSORS)
EXTRA_KEYS: tuple[str, ...] = ("state",) + IMAGE_KEYS
AUTORESET_MODES: tuple[str, ...] = ("next_step", "same_step", "disabled")
BACKEND_CHOICES: tuple[str, ...] = ("auto", "mujoco", "warp")
ACTION_MODES: tuple[str, ...] = ("palm_synergy", "joint")
OBJECT_SETS: tuple[str, ...] = ("primitives", "procedural", "ycb")
"""Named object sets; any other ``object_set`` value is a folder of the user's ``.obj``/``.stl`` files."""
OBJECT_FEATURES: tuple[str, ...] = ("auto", "shape", "points")
DECOMPOSITIONS: tuple[str, ...] = ("auto", "hull", "coacd")
START_METHODS: tuple[str, ...] = ("auto", "spawn", "forkserver")

ObsMode = Literal[OBS_MODES]  # "state", "depth", "stereo_rgb", "wrist_depth"
ExtraKey = Literal[EXTRA_KEYS]  # "state" and every sensor's keys
AutoresetMode = Literal[AUTORESET_MODES]
Backend = Literal[BACKEND_CHOICES]
ActionMode = Literal[ACTION_MODES]
ObjectFeatures = Literal[OBJECT_FEATURES]
Decomposition = Literal[DECOMPOSITIONS]
StartMethod = Literal[START_METHODS]
Range = tuple[float, float]


@dataclass(frozen=True)
class RewardConfig:
    """Reward scales (one per term, the keys of :func:`dexgrasp_env.rewards.reward_terms`) and shapes.

    The total reward is ``sum(scale[k] * term[k])``. Terms follow DextrAH / Isaac Lab's
    dexsuite: hand-to-object ``exp(-a * max_i |p_tip_i - p_obj|)`` (every fingertip towards the
    object), object-to-goal ``exp(-b * |p_obj - goal|)`` paid only while the object is at least
    ``goal_gate_height`` above its rest height (so pushing it over the table towards the goal earns
    nothing), lift ``exp(-c * |goal_z - p_obj_z|)`` towards the goal height, finger curl
    ``|q_fingers - q_curled|^2`` (a penalty: keeps the fingers near a loose fist), squared action and
    action-rate norms (penalties), and a bonus per step inside the success region.
    """

    fingertip_to_object: float = 1.0
    """Scale of the hand-to-object term ``exp(-a * max_i |p_tip_i - p_obj|)``."""
    object_to_goal: float = 5.0
    """Scale of the object-to-goal term ``exp(-b * |p_obj - goal|)``."""
    lift: float = 2.0
    """Scale of the lift term ``exp(-c * |goal_z - obj_z|)``."""
    finger_curl: float = -0.01
    """Scale of the finger-curl regulariser ``|q_fingers - q_curled|^2`` (negative: a penalty)."""
    action: float = -0.005
    """Scale of the action penalty ``|a|^2``."""
    action_rate: float = -0.005
    """Scale of the action-rate penalty ``|a - a_prev|^2``."""
    success: float = 0.0
    """Bonus per step while the object is inside the success region."""
    fingertip_sharpness: float = 10.0
    """``a`` of the hand-to-object term (1/m)."""
    goal_sharpness: float = 15.0
    """``b`` of the object-to-goal term (1/m; DextrAH sharpens it to 20 late in training)."""
    lift_sharpness: float = 8.5
    """``c`` of the lift term (1/m)."""
    goal_gate_height: float = 0.02
    """The object-to-goal term counts only while the object is this far above its rest height (m)."""

    def scales(self) -> dict[str, float]:
        """The per-term scales, keyed like the dict :func:`dexgrasp_env.rewards.reward_terms` returns."""
        return {k: getattr(self, k) for k in REWARD_TERMS}


REWARD_TERMS: tuple[str, ...] = (
    "fingertip_to_object", "object_to_goal", "lift", "finger_curl", "action", "action_rate", "success",
)


@dataclass(frozen=True)
class CurriculumConfig:
    """Automatic widening of the randomization ranges (the paper's ADR).

    Every randomization range is interpolated between its nominal value (difficulty 0) and the
    full range (difficulty 1). With ``enabled``, difficulty starts at ``initial_difficulty`` and
    grows by ``step`` whenever the success rate over the last episodes passes ``threshold``.
    """

    enabled: bool = False
    """Start narrow and widen the ranges with success (else: always the full ranges)."""
    initial_difficulty: float = 0.0
    """Difficulty in [0, 1] at the start."""
    step: float = 0.02
    """Increment per widening (DextrAH: 50 steps from nominal to full)."""
    threshold: float = 0.4
    """Success fraction above which the ranges widen."""
    min_episodes: int = 64
    """Finished episodes needed before the success fraction is trusted."""
    schedule_steps: int | None = None
    """Widen on a fixed schedule instead: difficulty grows linearly from ``initial_difficulty`` to 1 over this
    many environment steps (of the whole vector env), whatever the success. A success-gated curriculum stalls
    where the stochastic training policy's success hovers at the threshold (``depth-robust``'s tries stopped
    at 0.12 and 0.22); a schedule reaches the full ranges at a known step."""
    schedule_gate: float | None = None
    """With ``schedule_steps``: the schedule's clock runs only while the success fraction of the last
    ``min_episodes`` finished episodes is at least this (closed until they have finished). A policy learning
    from scratch first has to grasp at all; a fixed schedule widened the ranges before it did
    (``depth-robust-scratch``: half of ``full()`` by 4 M steps, no lift), a gate holds them while it cannot."""

    spread: Literal["level", "uniform"] = "level"
    """How a world's episode takes the curriculum's difficulty: ``level``: every world at the curriculum's level;
    ``uniform``: each episode draws its own difficulty uniformly between 0 and the level, so the narrow ranges stay
    in training while the curriculum widens. Why: ``depth-robust-gated`` trained at the level alone from 6.5 M
    steps on, and its policy worked only inside those ranges (0.154 under ``full()``, 0.008 at the nominal
    ones). Evaluations at the full ranges (curriculum off) are at difficulty 1 either way."""

    def __post_init__(self) -> None:
        if self.spread not in ("level", "uniform"):
            raise ValueError(f"curriculum spread={self.spread!r} is unknown; expected 'level' or 'uniform'")
        for name in ("initial_difficulty", "step"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"curriculum {name}={getattr(self, name)!r} must be in [0, 1]")
        if self.min_episodes < 1:
            raise ValueError(f"curriculum min_episodes={self.min_episodes!r} must be >= 1")
        if self.schedule_steps is not None and self.schedule_steps < 1:
            raise ValueError(f"curriculum schedule_steps={self.schedule_steps!r} must be >= 1, or None for the "
                             f"success-gated curriculum")
        if self.schedule_gate is not None:
            if self.schedule_steps is None:
                raise ValueError(f"curriculum schedule_gate={self.schedule_gate!r} gates a schedule: it needs "
                                 f"schedule_steps")
            if not 0.0 <= self.schedule_gate <= 1.0:
                raise ValueError(f"curriculum schedule_gate={self.schedule_gate!r} must be a success fraction in "
                                 f"[0, 1]")


@dataclass(frozen=True)
class RandomizationConfig:
    """Domain randomization. Each field is a full range, or ``None`` to switch that part off.

    Scales multiply the nominal value; noises are standard deviations. At curriculum
    difficulty ``d`` a range ``(lo, hi)`` with nominal ``n`` becomes ``(n + d (lo - n), n + d (hi - n))``.
    """

    object_mass_scale: Range | None = (0.5, 3.0)
    """Scale of the object's nominal mass."""
    object_size_scale: Range | None = (0.9, 1.1)
    """Scale of the object's nominal size."""
    friction: Range | None = (0.5, 1.2)
    """Sliding friction coefficient of the object (nominal 1.0). The object's geoms have contact priority,
    so this is the coefficient of every contact with the object (fingers, palm, table)."""
    actuator_gain_scale: Range | None = None
    """Scale of every joint servo's stiffness (and damping alongside), e.g. (0.5, 2.0)."""
    camera_position_noise: float | None = None
    """Per-axis uniform offset of every sensor (m), e.g. 0.03; in the frame of its mount (a wrist camera's in the
    palm's). One draw per world moves every sensor; a stereo pair moves as one rigid body."""
    camera_rotation_noise_deg: float | None = None
    """Per-axis uniform rotation of every sensor about its own centre (degrees), e.g. 3.0."""
    depth_noise_std: float | None = None
    """Gaussian noise on depth pixels that hit something (m), e.g. 0.005; misses stay at the far end. The depth
    camera's model: :mod:`dexgrasp_env.depth_noise`."""
    depth_dropout: float | None = None
    """Probability that a depth pixel is dropped (no return: it reads the far end, like a miss), e.g. 0.02."""
    depth_edge_noise_px: float | None = None
    """Standard deviation (pixels) of the displacement from which each depth pixel reads: ragged edges, e.g. 0.5."""
    depth_disparity_noise: float | None = None
    """Standard deviation (m) at 1 m of depth noise growing with the square of the distance, e.g. 0.003."""
    depth_random_value: float | None = None
    """Probability that a depth pixel reads a uniform random depth in range, e.g. 0.003."""
    depth_sticks: float | None = None
    """Probability that a depth pixel starts a short horizontal run reading one random depth, e.g. 0.00025."""
    light_scale: Range | None = None
    """Scale of the lights' diffuse intensity, e.g. (0.5, 1.5)."""
    color_noise: float | None = None
    """Uniform RGB offset of the table and object colours, e.g. 0.15."""
    object_push_velocity: float | None = None
    """Speed (m/s) of random pushes on the object, e.g. 0.3."""
    object_push_probability: float = 0.005
    """Per-step probability of a push when pushes are on."""
    joint_pos_noise: float | None = None
    """Uniform noise on observed joint positions (rad), e.g. 0.08."""
    object_pos_noise: float | None = None
    """Uniform noise on the observed object position (m), e.g. 0.03."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Automatic widening of these ranges (ADR)."""

    @staticmethod
    def full() -> RandomizationConfig:
        """The ranges the paper reaches at the end of its curriculum, with the depth camera's model of
        :mod:`dexgrasp_env.depth_noise` (DextrAH's probabilities; its parts beyond Gaussian noise and dropout
        since 2026-12-07: records before then measured ``full()`` without them)."""
        return RandomizationConfig(
            object_mass_scale=(0.5, 3.0), object_size_scale=(0.85, 1.15), friction=(0.3, 1.2),
            actuator_gain_scale=(0.5, 2.0), camera_position_noise=0.03, camera_rotation_noise_deg=3.0,
            depth_noise_std=0.005, depth_dropout=0.02, depth_edge_noise_px=0.5, depth_disparity_noise=0.003,
            depth_random_value=0.0125 / 4, depth_sticks=0.001 / 4, light_scale=(0.5, 1.5), color_noise=0.15,
            object_push_velocity=0.3, joint_pos_noise=0.08, object_pos_noise=0.03,
        )

    @staticmethod
    def none() -> RandomizationConfig:
        """No randomization at all (nominal physics, clean observations)."""
        return RandomizationConfig(object_mass_scale=None, object_size_scale=None, friction=None)


DEPTH_NOISE_FIELDS: tuple[str, ...] = ("depth_noise_std", "depth_dropout", "depth_edge_noise_px",
                                       "depth_disparity_noise", "depth_random_value", "depth_sticks")
"""The fields of :class:`RandomizationConfig` that make up the depth camera's model."""


PROCEDURAL_FAMILIES: tuple[str, ...] = ("polytope", "superellipsoid", "revolution", "union")
"""The shape families of the ``procedural`` set (each a generator in :mod:`dexgrasp_env.robot.procedural`)."""


@dataclass(frozen=True)
class ProceduralConfig:
    """The ``procedural`` object set (:mod:`dexgrasp_env.robot.procedural`): seeded shapes of four families.

    The same seed always gives the same set; another seed gives objects the first never held (the
    held-out objects of an evaluation).
    """

    seed: int = 0
    """Seed of the set (object ``i`` depends only on ``(seed, i)``)."""
    count: int = 64
    """Number of objects."""
    size: Range = (0.05, 0.10)
    """Range of each object's largest extent (m); the primitives span 0.04-0.12."""
    min_thickness: float = 0.03
    """Smallest extent along any axis (m): thinner objects are hard to pick up from the table."""
    max_parts: int = 3
    """Most convex pieces of a revolution or union shape (the difficulty knob: more pieces, more concave)."""
    families: tuple[str, ...] = PROCEDURAL_FAMILIES
    """Shape families, drawn in turn (object ``i`` is of family ``i mod len(families)``)."""

    def __post_init__(self) -> None:
        bad = [f for f in self.families if f not in PROCEDURAL_FAMILIES]
        if bad or not self.families:
            raise ValueError(f"procedural families {bad or self.families!r} are unknown; expected some of "
                             f"{PROCEDURAL_FAMILIES}")
        if self.count < 1:
            raise ValueError(f"procedural count={self.count} must be >= 1")
        if not 0.0 < self.size[0] <= self.size[1]:
            raise ValueError(f"procedural size={self.size!r} must be a range 0 < low <= high (m)")
        if self.max_parts < 2:
            raise ValueError(f"procedural max_parts={self.max_parts} must be >= 2")


@dataclass(frozen=True)
class RobotConfig:
    """Joint servos of the arm and hand (position actuators on all 23 joints)."""

    arm_stiffness: tuple[float, ...] = (600.0, 600.0, 500.0, 400.0, 200.0, 100.0, 50.0)
    """Arm servo stiffness (N m / rad), joints 1..7."""
    arm_damping: tuple[float, ...] = (60.0, 60.0, 50.0, 40.0, 20.0, 10.0, 5.0)
    """Arm servo damping (N m s / rad), joints 1..7."""
    arm_armature: float = 0.1
    """Reflected rotor inertia added to every arm joint (kg m^2)."""
    finger_stiffness: float = 3.0
    """Finger servo stiffness (N m / rad)."""
    finger_damping: float = 0.1
    """Finger servo damping (N m s / rad)."""
    finger_effort_limit: float = 0.7
    """Torque limit of each finger servo (N m)."""
    finger_armature: float = 0.001
    """Reflected rotor inertia added to every finger joint (kg m^2)."""
    gravity_compensation: bool = True
    """Compensate the robot's own weight, as the iiwa's controller does."""


@dataclass(frozen=True)
class PalmSynergyConfig:
    """The ``palm_synergy`` action: 6-D palm motion through damped-least-squares IK, 5 finger synergies.

    See :mod:`dexgrasp_env.actions` for the mapping and the synergy basis.
    """

    position_scale: float = 0.015
    """Palm translation per control step at full action (m)."""
    rotation_scale: float = 0.04
    """Palm rotation per control step at full action (rad, a world-frame rotation vector)."""
    damping: float = 0.05
    """Damping (lambda) of the least-squares IK: larger is smoother near singularities, less exact."""
    joint_margin: float = 0.3
    """Within this distance of a joint limit (rad) the IK moves that joint less and less."""
    palm_low: tuple[float, float, float] = (0.25, -0.45, 0.02)
    """Lower corner of the box the palm (its site at the palm's surface) must stay in (m); its z keeps
    the palm above the table top."""
    palm_high: tuple[float, float, float] = (0.95, 0.45, 0.65)
    """Upper corner of the palm's box (m)."""
    synergy_scale: float = 0.6
    """Norm (rad) of the finger-joint change of the synergies after the first at full action."""


@dataclass(frozen=True)
class EnvConfig:
    """The whole task: observation mode, physics rates, workspace, rewards, randomization."""

    obs_mode: ObsMode = "state"
    """Policy observation: ``state`` (privileged vector), ``depth``, ``stereo_rgb`` or ``wrist_depth`` (its
    sensors: :data:`dexgrasp_env.sensors.OBS_MODE_SENSORS`). Set by the registered id: ``gym.make(id)``, and
    ``--env-id`` in the scripts, which replaces a value given here."""
    extra_obs: tuple[ExtraKey, ...] = ()
    """Further keys rendered from the same world in the same step, e.g. ``("state",)`` for an
    asymmetric critic or a teacher, ``("depth",)`` for a depth teacher of a stereo student (rendered by its
    own sensor's configuration, ``sensors.depth``)."""
    physics_dt: float = 1.0 / 120.0
    """Physics time step (s)."""
    decimation: int = 2
    """Physics steps per control step (60 Hz policy over 120 Hz physics)."""
    episode_length_s: float = 10.0
    """Episode length (s); reaching it truncates the episode (a time-out, not a termination)."""
    action_mode: ActionMode = "palm_synergy"
    """How actions drive the robot (all in [-1, 1]). ``palm_synergy`` (11-D, the default): palm position
    and rotation deltas turned into arm joint targets by IK, and 5 finger synergies (DextrAH's action
    space: learns to grasp and lift in minutes on a CPU). ``joint``: 23 relative joint-position targets
    (Isaac Lab's Dexsuite: billions of steps to learn the same)."""
    action_scale: float = 0.1
    """``joint`` mode: relative joint-position target change (rad) per unit action per control step."""
    palm: PalmSynergyConfig = field(default_factory=PalmSynergyConfig)
    """``palm_synergy`` mode: scales, IK damping, the palm's workspace and the synergies."""
    success_threshold: float = 0.1
    """The object counts as at the goal within this distance (m)."""
    lift_height: float = 0.1
    """The object counts as lifted this far above its rest height (m) (``info["lifted"]``)."""
    object_spawn_low: tuple[float, float] = (0.50, -0.15)
    """Lower corner (x, y) of the region where objects are placed on the table (m)."""
    object_spawn_high: tuple[float, float] = (0.70, 0.15)
    """Upper corner (x, y) of the spawn region (m)."""
    goal_low: tuple[float, float, float] = (0.50, -0.20, 0.20)
    """Lower corner of the box goals are drawn from (m)."""
    goal_high: tuple[float, float, float] = (0.70, 0.20, 0.40)
    """Upper corner of the goal box (m)."""
    workspace_low: tuple[float, float, float] = (0.0, -0.6, -0.05)
    """The episode terminates when the object leaves this box (m) or falls below its floor."""
    workspace_high: tuple[float, float, float] = (1.1, 0.6, 1.0)
    """Upper corner of the workspace box (m)."""
    arm_start_noise: float = 0.05
    """Uniform noise on the arm's start joint angles (rad)."""
    shapes: tuple[str, ...] | None = None
    """Names of the objects of ``object_set`` to draw from (for primitives :data:`dexgrasp_env.robot.objects.SHAPES`;
    ``dexgrasp_env.load_object_set(cfg).names`` lists any set's); all when None."""
    object_assignment: Literal["random", "cycle"] = "random"
    """``random``: a shape drawn at every reset. ``cycle``: environment ``i`` always gets shape
    ``i mod len(shapes)`` (even coverage for evaluation)."""
    object_set: str = "primitives"
    """The objects: ``primitives`` (16 boxes, cylinders, spheres and capsules), ``procedural`` (seeded shapes,
    see ``procedural``), ``ycb`` (a graspable subset of the YCB objects, ``pip install "dexgrasp[ycb]"``) or a
    folder of ``.obj``/``.stl`` files (see ``mesh_scale``, ``mesh_density``, ``mesh_decomposition``)."""
    procedural: ProceduralConfig = field(default_factory=ProceduralConfig)
    """The ``procedural`` set's seed, size and difficulty."""
    mesh_scale: float = 1.0
    """Scale applied to a folder's meshes (e.g. 0.001 for files in millimetres)."""
    mesh_density: float = 600.0
    """Density of mesh objects (kg/m^3): their mass comes from their volume (600: most procedural and YCB objects
    weigh 0.02-0.25 kg, around the primitives' 0.1-0.16 kg)."""
    mesh_decomposition: Decomposition = "auto"
    """How a folder's mesh collides: ``hull`` (its convex hull), ``coacd`` (convex decomposition, cached; needs
    ``pip install coacd``), ``auto`` (the hull when the mesh fills at least 90% of it, else ``coacd``)."""
    object_features: ObjectFeatures = "auto"
    """How the privileged state describes the object: ``shape`` (kind one-hot and size: primitives only) or
    ``points`` (64 surface points in the world frame, any shape); ``auto``: ``shape`` for primitives, else
    ``points``."""
    sensors: SensorsConfig = field(default_factory=SensorsConfig)
    """Every sensor's camera: mount, pose, field of view, size, depth range (:mod:`dexgrasp_env.sensors`).
    Only the sensors of the observed keys are rendered, each with its own configuration."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Reward scales and shapes."""
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    """Domain randomization and its curriculum."""
    robot: RobotConfig = field(default_factory=RobotConfig)
    """Servo gains and limits."""
    check_actions: bool = True
    """Reject actions of the wrong shape, dtype or device, and non-finite actions (costs one host sync)."""
    backend: Backend = "auto"
    """Physics backend. ``mujoco``: C MuJoCo, one model per world stepped on CPU threads (fast on a CPU).
    ``warp``: MuJoCo Warp, all worlds as one batched model (the GPU path; it also runs on Warp's CPU device,
    slowly). ``auto``: ``mujoco`` on CPU, ``warp`` on CUDA. Images come from MuJoCo Warp's ray tracer on both."""
    sim_threads: int | None = None
    """Threads of the ``mujoco`` backend (``None``: every core this process may use; the CPU workers of a pool
    split the cores between them)."""
    render_threads: int | None = None
    """Threads the ``mujoco`` backend renders images on: its worlds are split into this many Warp copies that
    render in parallel, because Warp runs a CPU kernel on one thread (``None``: as many as ``sim_threads``;
    1: one copy, as before 2026-12-01). The images are the same either way."""
    render_static_once: bool = True
    """On a CPU device, ray trace a static camera's view of the static scene (floor, table, the arm's base) once per
    world, again only when a reset changed its pose or the scene's fields, and the moving bodies every step; each
    pixel the nearer hit (:class:`~dexgrasp_env.sim.warp_backend.LayeredRenderer`); a depth camera over primitive
    geoms traces its moving bodies tile by tile (:class:`~dexgrasp_env.sim.depth_tracer.TiledDepthTracer`). The
    images are the same. ``False``: every geom every step, as before 2026-12-07."""

    def __post_init__(self) -> None:
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode={self.action_mode!r} is unknown; expected one of {ACTION_MODES}")
        if self.backend not in BACKEND_CHOICES:
            raise ValueError(f"backend={self.backend!r} is unknown; expected one of {BACKEND_CHOICES}")
        if self.sim_threads is not None and (isinstance(self.sim_threads, bool) or not isinstance(self.sim_threads, int)
                                             or self.sim_threads < 1):
            raise ValueError(f"sim_threads={self.sim_threads!r} must be an integer >= 1, or None for every core")
        if self.render_threads is not None and (isinstance(self.render_threads, bool)
                                                or not isinstance(self.render_threads, int) or self.render_threads < 1):
            raise ValueError(f"render_threads={self.render_threads!r} must be an integer >= 1, or None for as many "
                             f"as sim_threads")
        if self.obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode={self.obs_mode!r} is unknown; expected one of {OBS_MODES} (make_env_config "
                             f"also takes an id of {tuple(ENV_IDS)})")
        for key in self.extra_obs:
            if key not in EXTRA_KEYS:
                raise ValueError(f"extra_obs key {key!r} is unknown; expected some of {EXTRA_KEYS}")
        if len(set(self.extra_obs)) != len(self.extra_obs):
            raise ValueError(f"extra_obs={self.extra_obs!r} names a key twice")
        if self.object_features not in OBJECT_FEATURES:
            raise ValueError(f"object_features={self.object_features!r} is unknown; expected one of {OBJECT_FEATURES}")
        if self.object_features == "shape" and self.object_set != "primitives":
            raise ValueError(f"object_features='shape' describes primitives only, got object_set={self.object_set!r}; "
                             f"use 'points' (or 'auto')")
        if self.mesh_decomposition not in DECOMPOSITIONS:
            raise ValueError(f"mesh_decomposition={self.mesh_decomposition!r} is unknown; expected one of "
                             f"{DECOMPOSITIONS}")
        if not self.mesh_scale > 0 or not self.mesh_density > 0:
            raise ValueError(f"mesh_scale={self.mesh_scale!r} and mesh_density={self.mesh_density!r} must be > 0")
        if self.decimation < 1:
            raise ValueError(f"decimation={self.decimation} must be >= 1")

    @property
    def features(self) -> str:
        """The object description in the state: ``shape`` or ``points`` (``object_features`` resolved)."""
        if self.object_features != "auto":
            return self.object_features
        return "shape" if self.object_set == "primitives" else "points"

    @property
    def control_dt(self) -> float:
        return self.physics_dt * self.decimation

    @property
    def max_episode_steps(self) -> int:
        return int(round(self.episode_length_s / self.control_dt))

    def policy_keys(self) -> tuple[str, ...]:
        """The keys of the observation mode itself (what the environment's policy sees): its sensors' keys
        and ``proprio``, or the privileged ``state``."""
        sensors = OBS_MODE_SENSORS[self.obs_mode]
        if not sensors:
            return ("state",)
        return tuple(k for name in sensors for k in SENSOR_BY_NAME[name].keys) + ("proprio",)

    def obs_keys(self) -> tuple[str, ...]:
        """The observation keys in order: the policy's own, then the extras."""
        base = self.policy_keys()
        return base + tuple(k for k in self.extra_obs if k not in base)

    def cameras_needed(self) -> tuple[str, ...]:
        """Which cameras must be rendered each step for the requested keys (each an image key)."""
        keys = self.obs_keys()
        return tuple(c for c in IMAGE_KEYS if c in keys)


ENV_IDS: dict[str, ObsMode] = {
    "DexGrasp-State-v0": "state",
    "DexGrasp-Depth-v0": "depth",
    "DexGrasp-StereoRGB-v0": "stereo_rgb",
    "DexGrasp-WristDepth-v0": "wrist_depth",
}


def env_id_of(config: EnvConfig) -> str:
    """The registered id whose observation mode ``config`` has."""
    return next(env_id for env_id, mode in ENV_IDS.items() if mode == config.obs_mode)


def replace(obj, **overrides):
    """``dataclasses.replace`` that also takes plain data: a dict given for a nested config changes only the
    fields it names (``sensors=dict(depth=dict(width=64))`` keeps every other sensor and field).

    Raises:
        ValueError: A name that is not a field, with the fields there are.
    """
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"{type(obj).__name__} has no field {unknown[0]!r}; expected one of {sorted(names)}")
    out = {}
    for key, value in overrides.items():
        current = getattr(obj, key)
        if isinstance(value, dict) and dataclasses.is_dataclass(current):
            value = replace(current, **value)
        out[key] = value
    return dataclasses.replace(obj, **out)


def make_env_config(obs_mode: ObsMode | str = "state", camera: CameraConfig | dict | None = None,
                    **overrides) -> EnvConfig:
    """Factory for :class:`EnvConfig`.

    Args:
        obs_mode: ``"state"``, ``"depth"``, ``"stereo_rgb"`` or ``"wrist_depth"``, or a registered env id.
        camera: A shorthand: changes of every sensor the environment renders (the observation mode's and those
            of ``extra_obs``), as a :class:`CameraConfig` or plain data
            (``gym.make("DexGrasp-Depth-v0", camera=dict(width=64, height=64))``); where it renders none, of the
            static sensors (``depth``, ``stereo``). To give sensors different views (a teacher's camera beside a
            student's), set ``sensors=dict(depth=..., stereo=...)`` instead.
        **overrides: any :class:`EnvConfig` field; nested configs may be given as dicts (see :func:`replace`).

    Returns:
        The config.
    """
    obs_mode = ENV_IDS.get(obs_mode, obs_mode)
    cfg = replace(EnvConfig(obs_mode=obs_mode), **overrides)
    if camera is not None:
        names = tuple(s.name for s in sensors_of_keys(cfg.obs_keys())) or STATIC_SENSORS
        change = camera if isinstance(camera, dict) else dataclasses.asdict(camera)
        cfg = replace(cfg, sensors={name: change for name in names})
    return cfg


@dataclass(frozen=True)
class PoolConfig:
    """Where environments are simulated and how results reach the learner."""

    sim_devices: tuple[str, ...] | None = None
    """One entry per simulator worker process (``"cpu"``, ``"cuda:0"``...; entries may repeat).
    ``None`` simulates every environment in-process on the learner device."""
    learner_device: str = "cpu"
    """Device where actions come from and observations land."""
    transport: Literal["auto", "gloo", "nccl"] = "auto"
    """``auto``: NCCL when the learner and every worker are on CUDA, else Gloo through host memory."""
    autoreset_mode: AutoresetMode = "next_step"
    """Gymnasium autoreset mode: ``next_step``, ``same_step`` (final_obs/final_info) or ``disabled``."""
    pipeline: bool = False
    """Split every worker's shard in two halves that step while the learner acts on the other."""
    restart_failed_workers: bool = False
    """Restart a dead worker, reset its environments and report them truncated, instead of raising."""
    worker_timeout_s: float = 30.0
    """A worker silent for this long while a step is due counts as failed."""
    numpy_obs: bool = False
    """Return numpy arrays on the host instead of torch tensors on the learner device."""
    start_method: StartMethod = "auto"
    """How worker processes start. ``forkserver``: each worker is forked from one server process that imported
    torch, MuJoCo (and MuJoCo Warp, when the pool renders or runs Warp) once, so that a pool starts in a fraction
    of a second instead of every worker importing them anew (two workers after the first pool: 0.13 s against
    1.5 s for State, 0.29 s against 3.4 s with a depth camera, on 2 cores; ``benchmarks/pool.py --start``).
    ``spawn``: a fresh interpreter per worker, the safe choice with CUDA (nothing initialised before the worker
    picks its device). ``auto``: ``forkserver`` for a worker that simulates on the CPU where the platform has it,
    else ``spawn``. Either way a worker sees the learner's environment variables as they are when the pool
    starts it."""
    launch: Literal["spawn", "torchrun"] = "spawn"
    """``spawn``: the pool starts one process per worker. ``torchrun``: this process is rank 0 of a
    torchrun job whose other ranks call :func:`dexgrasp_env.vector.serve_worker`."""

