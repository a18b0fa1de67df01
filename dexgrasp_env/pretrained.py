"""Policies shipped inside the package, loaded without running code from a file.

Each policy is two files in ``dexgrasp_env/policies/``: ``<name>.pt2``, the actor as a
``torch.export`` program (``obs dict -> (action mean, action std)``), and ``<name>.json``, the
``EnvConfig`` it was trained with (plain data) and how it was made (command, steps, evaluation). Two names that
ship the same actor on different tasks share one program: the JSON's ``"program"`` names the other's file
(``procedural-teacher`` is ``state-teacher``'s actor on its training set).
"""

from __future__ import annotations

import json
import os

import torch

POLICY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policies")


def policy_id(name_or_path: str) -> dict:
    """How a record names a policy unambiguously: its name (a shipped name or a checkpoint path) and the SHA-256
    of its exported program (the ``.pt2`` file, or a checkpoint's ``policy_export``): names get reused (the
    ``state-teacher`` of records before 2026-12-01 is today's ``state-teacher-v1``), contents do not."""
    import hashlib

    if os.path.exists(name_or_path):
        from dexgrasp_env import checkpoints

        program = checkpoints.load(name_or_path)["policy_export"]
    else:
        if name_or_path not in available():
            raise ValueError(f"no shipped policy or checkpoint named {name_or_path!r}; shipped: {available()}")
        with open(program_path(name_or_path), "rb") as f:
            program = f.read()
    return {"name": name_or_path, "sha256": hashlib.sha256(program).hexdigest()}


def program_path(name: str, meta: dict | None = None) -> str:
    """The ``.pt2`` file of shipped policy ``name`` (its own, or the one its JSON's ``"program"`` names);
    ``meta``: that JSON, when the caller has read it already."""
    if meta is None:
        with open(os.path.join(POLICY_DIR, f"{name}.json")) as f:
            meta = json.load(f)
    return os.path.join(POLICY_DIR, meta.get("program", f"{name}.pt2"))


def available() -> tuple[str, ...]:
    """Names of the shipped policies."""
    return tuple(sorted(f[: -len(".json")] for f in os.listdir(POLICY_DIR) if f.endswith(".json")))


class PretrainedPolicy:
    """A shipped actor: ``policy(obs) -> actions`` (the deterministic mean, batched torch tensors).

    Attributes:
        program: The exported module ``obs dict -> (mean, std)`` (a teacher for ``algos/dagger.py``).
        keys: The observation keys it reads.
        info: How it was made (``<name>.json`` without the config).
    """

    def __init__(self, program: torch.nn.Module, keys: tuple[str, ...], info: dict,
                 shapes: dict[str, tuple[int, ...]] | None = None, config=None) -> None:
        self.program, self.keys, self.info = program, keys, info
        self.shapes = shapes or {}
        self.config = config
        """The ``EnvConfig`` it was trained with (what :meth:`check_task` compares against)."""

    def check_task(self, env) -> None:
        """Refuse an environment whose sensors, actions, control rate, object features or observation layout
        differ from the policy's training task (:mod:`dexgrasp_env.compatibility`); call it in your own loop.

        Args:
            env: An ``EnvConfig``, or an environment (single or vector) that carries one.

        Raises:
            ValueError: Naming each differing field with both values.
        """
        from dexgrasp_env.compatibility import check_task

        cfg = getattr(getattr(env, "unwrapped", env), "cfg", env)
        if self.config is not None:
            check_task(self.config, cfg, self.keys, who=f"policy {self.info.get('name')!r}")

    def check(self, obs: dict) -> None:
        """Refuse observations whose per-environment shape is not the one the policy was trained on.

        An image of another size would otherwise fail deep inside the exported program (or, worse,
        pass through a pooling layer and mean something else).
        """
        for k in self.keys:
            if k not in obs:
                raise ValueError(f"policy {self.info.get('name')!r} reads {k!r}, which the observation lacks "
                                 f"(it has {sorted(obs)})")
            want, got = self.shapes.get(k), tuple(obs[k].shape[1:])
            if want is not None and got != want:
                what = (f"{want[-1]}x{want[-2]} (width x height) images, got {got[-1]}x{got[-2]}" if len(want) == 3
                        else f"shape {want}, got {got}")
                raise ValueError(f"policy {self.info.get('name')!r} expects {k!r} {what}: make the environment "
                                 f"with the camera of its config (load_pretrained returns it)")

    def __call__(self, obs: dict) -> torch.Tensor:
        obs = obs if isinstance(obs, dict) else {"state": obs}
        self.check(obs)
        with torch.no_grad():
            return self.program({k: obs[k] for k in self.keys})[0]


def load_pretrained(name: str, device: str | torch.device = "cpu"):
    """A shipped policy and the ``EnvConfig`` it was trained with (action mode included).

    Example:
        >>> policy, config = dexgrasp_env.load_pretrained("state-teacher")
        >>> run_episodes(policy, dataclasses.replace(config, object_assignment="cycle"), 128, seed=0)

    Raises:
        ValueError: No shipped policy has that name.
    """
    from dexgrasp_env.checkpoints import env_config
    from dexgrasp_env.models import load_policy
    from dexgrasp_env.spaces import key_spaces

    names = available()
    if name not in names:
        raise ValueError(f"no shipped policy named {name!r}; expected one of {names}")
    with open(os.path.join(POLICY_DIR, f"{name}.json")) as f:
        meta = json.load(f)
    with open(program_path(name, meta), "rb") as f:
        program = load_policy(f.read(), device)
    config = env_config(meta.pop("env_config"))
    keys = tuple(meta["policy_keys"])
    spaces = key_spaces(config)
    return PretrainedPolicy(program, keys, meta, {k: spaces[k].shape for k in keys if k in spaces}, config), config
