"""Policies shipped inside the package, loaded without running code from a file.

Each policy is two files in ``dexgrasp_env/policies/``: ``<name>.pt2``, the actor as a
``torch.export`` program (``obs dict -> (action mean, action std)``), and ``<name>.json``, the
``EnvConfig`` it was trained with (plain data) and how it was made (command, steps, evaluation).
"""

from __future__ import annotations

import json
import os

import torch

POLICY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policies")


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

    def __init__(self, program: torch.nn.Module, keys: tuple[str, ...], info: dict) -> None:
        self.program, self.keys, self.info = program, keys, info

    def __call__(self, obs: dict) -> torch.Tensor:
        obs = obs if isinstance(obs, dict) else {"state": obs}
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
    from dexgrasp_env.checkpoints import from_plain
    from dexgrasp_env.config import EnvConfig
    from dexgrasp_env.models import load_policy

    names = available()
    if name not in names:
        raise ValueError(f"no shipped policy named {name!r}; expected one of {names}")
    with open(os.path.join(POLICY_DIR, f"{name}.json")) as f:
        meta = json.load(f)
    with open(os.path.join(POLICY_DIR, f"{name}.pt2"), "rb") as f:
        program = load_policy(f.read(), device)
    config = from_plain(EnvConfig, meta.pop("env_config"))
    return PretrainedPolicy(program, tuple(meta["policy_keys"]), meta), config
