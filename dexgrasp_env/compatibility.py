"""Does a trained policy fit an environment? The fields that change what a policy sees or does must match.

Image shapes are not enough: ``depth-scratch`` (32x32, 30 degrees, aimed at the goal box's height) runs
without an error through a 32x32 camera aimed at the table, and succeeds in 0.04 of its episodes there
instead of 0.89. So wherever a policy meets an environment (``run_episodes``, DAgger's teacher,
``ppo.py --init-actor``, ``view_policy``, ``ship_policy``, and a user's own loop through
:func:`check_task` or :meth:`dexgrasp_env.pretrained.PretrainedPolicy.check_task`) these are compared:

* every sensor the policy reads: mount, position, target, field of view, size, depth range (and a stereo
  pair's baseline);
* the action mode and its scales (``action_scale``, or the palm-space mapping of ``palm_synergy``);
* the control rate (``physics_dt``, ``decimation``);
* the object features (``shape`` or ``points``) when the policy reads the privileged state;
* the observation layout (the blocks of ``state`` and ``proprio``).

What an evaluation varies may differ: physics randomization, sensor noise, the object set, episode length,
rewards, backend.
"""

from __future__ import annotations

import dataclasses

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.sensors import SENSOR_OF_KEY, sensors_of_keys
from dexgrasp_env.spaces import proprio_layout, state_layout

SENSOR_FIELDS: tuple[str, ...] = ("mount", "position", "target", "fovy", "width", "height", "depth_range")
"""The fields of a sensor a policy depends on (a stereo pair's ``stereo_baseline`` too)."""
PALM_FIELDS: tuple[str, ...] = ("position_scale", "rotation_scale", "synergy_scale", "damping", "joint_margin",
                                "palm_low", "palm_high")
"""The fields of the palm-space action mapping (what an action of ``palm_synergy`` does)."""


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def task_mismatches(trained: EnvConfig, env: EnvConfig, keys) -> list[tuple[str, object, object]]:
    """``(field, trained value, environment value)`` of every field (above) that differs.

    Args:
        trained: The task the policy was trained on.
        env: The environment's task.
        keys: The observation keys the policy reads.
    """
    keys = tuple(keys)
    pairs: list[tuple[str, object, object]] = []
    for sensor in sensors_of_keys(keys):
        a, b = getattr(trained.sensors, sensor.name), getattr(env.sensors, sensor.name)
        names = SENSOR_FIELDS + (("stereo_baseline",) if len(sensor.keys) > 1 else ())
        pairs += [(f"sensors.{sensor.name}.{f}", getattr(a, f), getattr(b, f)) for f in names]
    pairs.append(("action_mode", trained.action_mode, env.action_mode))
    if trained.action_mode == env.action_mode == "joint":
        pairs.append(("action_scale", trained.action_scale, env.action_scale))
    elif trained.action_mode == env.action_mode:
        pairs += [(f"palm.{f}", getattr(trained.palm, f), getattr(env.palm, f)) for f in PALM_FIELDS]
    pairs += [("physics_dt", trained.physics_dt, env.physics_dt), ("decimation", trained.decimation, env.decimation)]
    if "state" in keys:
        pairs.append(("object_features", trained.features, env.features))
        pairs.append(("state layout", state_layout(trained), state_layout(env)))
    if "proprio" in keys:
        pairs.append(("proprio layout", proprio_layout(trained), proprio_layout(env)))
    missing = [k for k in keys if k not in env.obs_keys() and k not in SENSOR_OF_KEY]
    if missing:
        pairs.append(("observation keys", keys, env.obs_keys()))
    return [(name, a, b) for name, a, b in pairs if not _same(a, b)]


def check_task(trained: EnvConfig, env: EnvConfig, keys, who: str = "the policy") -> None:
    """Raise if the environment differs from the policy's training task in what the policy sees or does.

    Args:
        trained: The task the policy was trained on (``load_pretrained`` returns it; a checkpoint stores it).
        env: The environment's task (``env.unwrapped.cfg``, ``vector_env.cfg``).
        keys: The observation keys the policy reads.
        who: How the error names the policy.

    Raises:
        ValueError: Naming each differing field with both values.
    """
    bad = task_mismatches(trained, env, keys)
    if bad:
        lines = "; ".join(f"{name}: trained {a!r}, environment {b!r}" for name, a, b in bad)
        raise ValueError(f"{who} does not fit this environment ({lines}). Make the environment from the policy's "
                         f"own config (load_pretrained returns it); physics randomization, sensor noise and the "
                         f"object set may differ")


def with_policy_view(env: EnvConfig, trained: EnvConfig, keys) -> EnvConfig:
    """``env`` with the sensors, action mapping, control rate and object features of the policy's task: what a
    teacher needs to see the same world as its student sees it, through its own view."""
    sensors = {s.name: getattr(trained.sensors, s.name) for s in sensors_of_keys(keys)}
    out = dataclasses.replace(env, sensors=dataclasses.replace(env.sensors, **sensors),
                              action_mode=trained.action_mode, action_scale=trained.action_scale, palm=trained.palm,
                              physics_dt=trained.physics_dt, decimation=trained.decimation)
    if "state" in keys:
        out = dataclasses.replace(out, object_features=trained.features)
    return out
