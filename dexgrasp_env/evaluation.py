"""Deterministic evaluation episodes of any policy, with an optional MP4 of the first one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium as gym
import torch

from dexgrasp_env.config import EnvConfig, env_id_of
from dexgrasp_env.robot.object_sets import load_object_set
from dexgrasp_env.wrappers.video import compose_frame, write_mp4


HELDOUT_SEED_OFFSET = 1000
"""``procedural-heldout``: the config's procedural seed plus this (objects a training run on that seed never drew)."""


def eval_config(config: EnvConfig, *, keep_extra: bool = False, difficulty: float | None = None) -> EnvConfig:
    """The evaluation worlds of a training task: every shape in turn, and the curriculum off, so at the full
    ranges (a fresh environment would otherwise start at the curriculum's initial difficulty), or held at
    ``difficulty`` (the ranges a curriculum trains on now). Training-only extra keys are dropped unless
    ``keep_extra`` (a DAgger teacher reads its own keys on the same episodes). ``algos/ppo.py``,
    ``algos/dagger.py`` and the benchmarks all evaluate through this."""
    rc = config.randomization
    held = ({"enabled": False} if difficulty is None else
            {"enabled": True, "initial_difficulty": difficulty, "step": 0.0, "schedule_steps": None,
             "schedule_gate": None})
    rc = dataclasses.replace(rc, curriculum=dataclasses.replace(rc.curriculum, **held))
    extra = config.extra_obs if keep_extra else ()
    return dataclasses.replace(config, extra_obs=extra, object_assignment="cycle", randomization=rc)


def on_object_set(config: EnvConfig, name: str) -> EnvConfig:
    """``config`` with another object set: ``procedural-heldout`` (its procedural generator at seed +
    :data:`HELDOUT_SEED_OFFSET`), ``procedural``, ``ycb``, ``primitives`` or a folder.

    A policy that reads surface points (``config.features == "points"``) keeps reading them, so it runs on
    any set, primitives included.
    """
    if name == "procedural-heldout":
        proc = dataclasses.replace(config.procedural, seed=config.procedural.seed + HELDOUT_SEED_OFFSET)
        return dataclasses.replace(config, object_set="procedural", procedural=proc, shapes=None)
    features = "points" if config.features == "points" else config.object_features
    return dataclasses.replace(config, object_set=name, shapes=None, object_features=features)


def run_episodes(policy: Callable[[dict], torch.Tensor], config: EnvConfig, episodes: int, seed: int,
                 device: str | torch.device = "cpu", video: str | None = None, frames: list | None = None) -> dict:
    """One episode per environment of ``policy``, on worlds that depend only on ``seed``.

    Called with the same seed, two policies (a student and its teacher) face the same worlds.

    Args:
        policy: ``obs dict -> actions`` (batched torch tensors on ``device``; a state observation
            arrives as ``{"state": tensor}``). Actions are clipped to [-1, 1].
        config: The task; its observation mode picks the environment id.
        episodes: How many environments (and so episodes) to run.
        seed: The reset seed.
        device: The learner device the observations arrive on.
        video: Where to write an MP4 of environment 0's episode (its person's view beside the
            policy's cameras); ``None`` writes none.
        frames: A list to append those frames to (``(H, W, 3)`` uint8), with or without ``video``.

    Returns:
        ``success_rate`` (the object within ``success_threshold`` of the goal at the episode's end),
        ``lifted_rate`` (the object at least ``lift_height`` above its rest height at the end),
        ``mean_return``, ``mean_length``, ``episodes``; with ``object_assignment="cycle"`` also
        ``success_by_shape`` (object name -> success rate of its episodes: where a policy fails); and
        with ``video`` also ``video`` (the path) and ``frames`` (its frame count).
    """
    if hasattr(policy, "check_task"):  # a shipped policy: refuse a task that is not the one it learned
        policy.check_task(config)
    filming = video is not None or frames is not None
    env = gym.make_vec(env_id_of(config), num_envs=episodes, config=config, learner_device=str(device),
                       autoreset_mode="disabled", render_mode="rgb_array" if filming else None,
                       render_width=320, render_height=240)
    obs, _ = env.reset(seed=seed)
    finished = torch.zeros(episodes, dtype=torch.bool, device=device)
    success, lifted, returns, lengths = (torch.zeros(episodes, device=device) for _ in range(4))
    film = [] if frames is None else frames
    while not finished.all():
        obs = obs if isinstance(obs, dict) else {"state": obs}
        if filming and not finished[0]:
            film.append(compose_frame(env.render()[0], {k: v[0] for k, v in obs.items()}, config.sensors))
        with torch.no_grad():
            action = policy(obs)
        obs, _, _, _, info = env.step(action.clamp(-1.0, 1.0))
        done = info["_episode_stats"] & ~finished
        stats = info["episode_stats"]
        success = torch.where(done, stats["success"].float(), success)
        lifted = torch.where(done, stats["lifted"].float(), lifted)
        returns = torch.where(done, stats["r"], returns)
        lengths = torch.where(done, stats["l"].float(), lengths)
        finished |= done
    env.close()
    result = {"success_rate": success.mean().item(), "lifted_rate": lifted.mean().item(),
              "mean_return": returns.mean().item(),
              "mean_length": lengths.mean().item(), "episodes": episodes}
    if config.object_assignment == "cycle":  # environment i holds object i mod K
        names = load_object_set(config).names
        shape = torch.arange(episodes, device=device) % len(names)
        result["success_by_shape"] = {n: round(success[shape == i].mean().item(), 4)
                                      for i, n in enumerate(names) if bool((shape == i).any())}
    if video:
        result["video"] = write_mp4(video, film, fps=int(round(1.0 / config.control_dt)))
    if filming:
        result["frames"] = len(film)
    return result
