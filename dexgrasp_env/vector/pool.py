"""DisaggregatedVectorEnv: a pool of simulator workers behind Gymnasium's vector-env API.

The learner (this process) holds the policy and every buffer on ``learner_device``; simulation
and rendering run in one worker process per entry of ``sim_devices``, each on its own shard of
the environments. Every step the learner sends each worker its slice of the actions and receives
its results into preallocated tensors: one message each way per worker over torch.distributed
(Gloo through host memory, NCCL between GPUs; :mod:`dexgrasp_env.vector.protocol`). With
``sim_devices=None`` the environments are simulated in this process on the learner device and
nothing is copied.

Call order is guarded as in Gymnasium's ``AsyncVectorEnv``: ``step_wait`` without ``step_async``
raises ``NoAsyncCallError``; a second request to environments with one pending raises
``AlreadyPendingCallError``.

A restarted worker (``restart_failed_workers=True``) ends its environments' episodes the way any
episode ends: its shard's next step returns the last observation the learner saw of those
environments with ``truncated=True``, zero reward and ``info["worker_restarted"]`` (``same_step``:
``final_obs`` is that last observation, ``obs`` the new first one); in ``next_step`` mode the step
after resets them and returns their first observation. Requests the dead worker never answered are
answered that way (steps) or sent again to the new worker (resets, renders).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.distributed as dist
from gymnasium.error import AlreadyPendingCallError, NoAsyncCallError
from gymnasium.vector import AutoresetMode
from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.vector.utils import batch_space

from dexgrasp_env.actions import action_space, check_actions
from dexgrasp_env.config import AUTORESET_MODES, EnvConfig, PoolConfig, make_env_config
from dexgrasp_env.config import replace as replace_config
from dexgrasp_env.devices import resolve_device
from dexgrasp_env.errors import WorkerError
from dexgrasp_env.randomization import Curriculum
from dexgrasp_env.sim.base import available_cores, resolve_backend
from dexgrasp_env.spaces import is_flat, observation_space
from dexgrasp_env.vector.protocol import Command, Request
from dexgrasp_env.vector.schema import step_fields, unflatten
from dexgrasp_env.vector.shards import LocalShard, Watchdog, Worker
from dexgrasp_env.vector.worker import ShardSpec, WorkerSpec, torchrun_groups

_GYM_MODES = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
              "disabled": AutoresetMode.DISABLED}
_INT64 = (-(2**63), 2**63)


def split_envs(num_envs: int, parts: int) -> list[int]:
    """Sizes of ``parts`` blocks of ``num_envs`` environments, as even as possible."""
    base, extra = divmod(num_envs, parts)
    return [base + (i < extra) for i in range(parts)]


def check_seed(seed) -> int:
    """A reset seed: one integer that fits int64 (environment ``i`` then uses ``(seed, i)``)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r} must be one integer (environment i then uses (seed, i))")
    if not _INT64[0] <= int(seed) < _INT64[1]:
        raise ValueError(f"seed={seed!r} is out of range; expected an integer in [-2**63, 2**63)")
    return int(seed)


def restart_seed(seed: int | None, worker: int, generation: int) -> int:
    """The seed of a restarted worker's environments: a hash of ``(seed, worker, generation)`` below 2**62.

    A hash, not arithmetic on the seed: any seed (an unseeded pool draws one up to 2**62) gives a
    valid seed without overflow, and every restart gets new random streams.
    """
    digest = hashlib.blake2b(f"{seed}:{worker}:{generation}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2


# ------------------------------------------------------------------------------------------------
# The vector environment
# ------------------------------------------------------------------------------------------------
class DisaggregatedVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` grasp-and-lift environments simulated by a pool of workers.

    Args:
        num_envs: Total number of environments, split as evenly as possible across workers.
        config: The task config (default: ``make_env_config(obs_mode)``).
        pool: The pool layout (sim devices, learner device, autoreset mode, ...).
        render_mode: ``None`` or ``"rgb_array"``; ``render()`` then returns one frame per environment.
        render_width, render_height: Size of the rendered frames.

    Observations, rewards and flags are torch tensors on ``pool.learner_device`` (numpy arrays
    with ``pool.numpy_obs``). ``info`` holds per-env ``success``, ``lifted``, ``diverged`` and
    ``reward/<term>``; ``episode_stats`` (``r``, ``l``, ``success``, ``lifted``) with mask
    ``_episode_stats`` for episodes that just ended; in ``same_step`` mode ``final_obs`` and
    ``final_info`` (masks ``_final_obs``, ``_final_info``); ``worker_restarted`` when a worker was
    restarted (see the module docstring).

    Raises:
        WorkerError: A worker raised, died or stopped answering (unless it may be restarted).
        ValueError: A bad layout (unknown device, fewer environments than workers, ...).
    """

    def __init__(self, num_envs: int, config: EnvConfig | None = None, pool: PoolConfig | None = None,
                 render_mode: str | None = None, render_width: int = 160, render_height: int = 120) -> None:
        self.cfg = config if config is not None else make_env_config("state")
        self.pool_cfg = pool = pool if pool is not None else PoolConfig()
        self.closed = True  # until the workers are up
        self._workers: list[Worker] = []
        self.store = None
        """The TCP store the spawned workers rendezvous on (``None`` in-process and under torchrun)."""
        self._halves = None
        if isinstance(num_envs, bool) or int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be a positive integer")
        if pool.autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode={pool.autoreset_mode!r} is unknown; expected one of {AUTORESET_MODES}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is not supported; expected None or 'rgb_array'")
        self.num_envs = int(num_envs)
        self.device = resolve_device(pool.learner_device)
        self.render_mode = render_mode
        self._render_size = (render_width, render_height)
        self.metadata = {"autoreset_mode": _GYM_MODES[pool.autoreset_mode], "render_modes": ["rgb_array"],
                         "render_fps": int(round(1.0 / self.cfg.control_dt))}
        self.single_observation_space = observation_space(self.cfg)
        self.single_action_space = action_space(self.cfg)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.step_fields = step_fields(self.cfg, pool.autoreset_mode)
        self.seed_value: int | None = None
        self.curriculum = Curriculum(self.cfg.randomization.curriculum)
        self.last_timing: dict[str, Any] = {}
        self.watchdog = Watchdog(self.pool_cfg.worker_timeout_s)
        """Kills a silent NCCL worker (Gloo waits with a deadline of its own)."""
        self._shards = self._build_shards()
        self._view = _View(self, self._shards)
        self.closed = False

    # -- construction ------------------------------------------------------------------------
    def _build_shards(self) -> list:
        cfg, pool = self.cfg, self.pool_cfg
        halves = 2 if pool.pipeline else 1
        if pool.sim_devices is None and pool.launch != "torchrun":
            sizes = split_envs(self.num_envs, halves)
            if min(sizes) < 1:
                raise ValueError(f"num_envs={self.num_envs} is too small to pipeline in two halves")
            offsets = np.cumsum([0] + sizes[:-1]).tolist()
            return [LocalShard(cfg, ShardSpec(o, n), str(self.device), pool.autoreset_mode)
                    for o, n in zip(offsets, sizes)]

        world = dist.get_world_size() if pool.launch == "torchrun" and dist.is_initialized() else None
        if pool.launch == "torchrun":
            if world is None:
                raise RuntimeError("launch='torchrun' needs torch.distributed.init_process_group() first")
            if dist.get_rank() != 0:
                raise RuntimeError("only rank 0 makes the vector environment; other ranks call serve_worker()")
        devices = list(pool.sim_devices) if pool.sim_devices is not None else ["cpu"] * (world - 1)
        if not devices:
            raise ValueError("sim_devices is empty; give one device per worker, or None to simulate in-process")
        if world is not None and len(devices) != world - 1:
            raise ValueError(f"sim_devices has {len(devices)} entries but the torchrun job has {world - 1} "
                             f"worker ranks")
        resolved = [resolve_device(d) for d in devices]
        for dev in resolved:  # a clear error here, not a traceback from a worker
            resolve_backend(cfg.backend, dev)
        backend = self._transport(resolved)
        cpu_workers = sum(d.type == "cpu" for d in resolved)
        if cfg.sim_threads is None and cpu_workers > 1:  # the CPU workers of this machine share its cores
            cfg = dataclasses.replace(cfg, sim_threads=max(1, available_cores() // cpu_workers))
        if self.num_envs < len(devices) * halves:
            raise ValueError(f"num_envs={self.num_envs} is smaller than the number of workers ({len(devices)})"
                             + (" times two pipeline halves" if halves == 2 else ""))
        sizes = split_envs(self.num_envs, len(devices))
        specs, offset = [], 0
        for i, (dev, n) in enumerate(zip(resolved, sizes)):
            parts = split_envs(n, halves)
            shard_specs = tuple(ShardSpec(offset + sum(parts[:j]), parts[j]) for j in range(halves))
            specs.append(WorkerSpec(i, str(dev), cfg, shard_specs, pool.autoreset_mode, backend))
            offset += n
        try:
            if pool.launch == "torchrun":
                groups = torchrun_groups(world)
                dist.broadcast_object_list([specs], src=0)
                self._workers = [Worker(self, spec, groups[i]) for i, spec in enumerate(specs)]
            else:
                self.store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                                           timeout=datetime.timedelta(seconds=120))
                if backend == "nccl":
                    self.watchdog.start()
                self._workers = [Worker(self, spec) for spec in specs]
                for worker in self._workers:
                    worker.spawn()
                for worker in self._workers:
                    worker.connect()
            for worker in self._workers:
                worker.wait_ready()
        except BaseException:
            self._shutdown()
            raise
        # shards in environment order: worker 0 half 0, worker 0 half 1, worker 1 half 0, ...
        return [shard for w in self._workers for shard in w.shards]

    def _transport(self, devices: list[torch.device]) -> str:
        everything = devices + [self.device]
        all_cuda = all(d.type == "cuda" for d in everything)
        requested = self.pool_cfg.transport
        if requested not in ("auto", "gloo", "nccl"):
            raise ValueError(f"transport={requested!r} is unknown; expected 'auto', 'gloo' or 'nccl'")
        if requested == "nccl" and not all_cuda:
            raise ValueError(
                f"transport='nccl' needs the learner and every worker on CUDA, got learner {self.device} and "
                f"sim_devices {[str(d) for d in devices]}; use transport='gloo' (through host memory)")
        if requested == "auto":
            return "nccl" if all_cuda else "gloo"
        return requested

    # -- failures ------------------------------------------------------------------------------
    def _handle_failure(self, worker: Worker, error: WorkerError) -> None:
        """Restart ``worker`` (see the module docstring), or shut everything down and raise."""
        if not self.pool_cfg.restart_failed_workers or worker.process is None:
            self._shutdown()
            raise error
        worker.restart(restart_seed(self.seed_value, worker.index, worker.generation + 1), self.difficulty)

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset all environments (or those in ``options["reset_mask"]``) and return observations.

        Args:
            seed: One integer: environment ``i`` then depends only on ``(seed, i)``, however many
                workers there are.
            options: ``{"reset_mask": (num_envs,) bool}`` resets only those environments;
                ``{"episodes": (num_envs,) int}`` the episodes each environment has run, so that its
                random stream continues from there (resuming a run) rather than from the seed's start.
        """
        self._check_open()
        return self._view.reset(seed=seed, options=options)

    def step(self, actions):
        """Step all environments; see the class docstring for the outputs."""
        self._check_open()
        return self._view.step(actions)

    def step_async(self, actions) -> None:
        """Send ``actions`` to the workers and return at once (pair with :meth:`step_wait`)."""
        self._check_open()
        self._view.step_async(actions)

    def step_wait(self):
        """Wait for the results of :meth:`step_async`."""
        self._check_open()
        return self._view.step_wait()

    def halves(self) -> tuple[_View, _View]:
        """The two pipeline halves (``pipeline=True``): vector envs that step independently.

        While one half simulates, the learner computes the other half's actions::

            a, b = env.halves()
            obs_a, _ = a.reset(seed=0); obs_b, _ = b.reset(seed=0)
            a.step_async(policy(obs_a))
            while training:
                b.step_async(policy(obs_b))        # B's actions while A simulates
                obs_a, *rest_a = a.step_wait()
                a.step_async(policy(obs_a))        # A's actions while B simulates
                obs_b, *rest_b = b.step_wait()
        """
        if not self.pool_cfg.pipeline:
            raise RuntimeError("halves() needs a pool made with pipeline=True")
        if self._halves is None:
            self._halves = tuple(_View(self, self._shards[h::2]) for h in range(2))
        return self._halves

    def render(self):
        """One ``(H, W, 3)`` uint8 frame per environment (a person's view), or ``None``."""
        if self.render_mode != "rgb_array":
            return None
        self._check_open()
        return tuple(self._view.render())

    def close_extras(self, **kwargs) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self.watchdog.stop()
        for worker in self._workers:  # all asked first, then joined: they exit in parallel
            worker.request_close()
        for worker in self._workers:
            worker.join()
        for shard in getattr(self, "_shards", []):
            if isinstance(shard, LocalShard):
                shard.close()
        self.store = None
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this vector environment is closed")

    # -- curriculum ------------------------------------------------------------------------------
    @property
    def difficulty(self) -> float:
        """The curriculum's difficulty in [0, 1] (sent to the shards with every request)."""
        return self.curriculum.difficulty

    @difficulty.setter
    def difficulty(self, value: float) -> None:
        self.curriculum.set_difficulty(value)

    def _update_curriculum(self, done: torch.Tensor, success: torch.Tensor) -> None:
        if self.curriculum.cfg.enabled:
            self.curriculum.update(int(done.sum()), int((done & success).sum()), steps=done.numel())

    def worker_pids(self) -> list[int | None]:
        """Process id of each simulator worker (``None`` for torchrun ranks, which may be remote)."""
        return [w.process.pid if w.process is not None else None for w in self._workers]

    def memory_bytes(self) -> dict[str, int]:
        """Bytes of simulator state held in this process (in-process shards only)."""
        return {"local_sim": sum(s.memory_bytes() for s in self._shards if isinstance(s, LocalShard))}


class _View(gym.vector.VectorEnv):
    """A set of shards stepped together: the whole pool, or one pipeline half."""

    def __init__(self, owner: DisaggregatedVectorEnv, shards: list) -> None:
        self.owner, self.shards = owner, shards
        self.num_envs = sum(s.num_envs for s in shards)
        self.device = owner.device
        self.cfg = owner.cfg
        self.render_mode = owner.render_mode
        self.metadata = owner.metadata
        self.single_observation_space = owner.single_observation_space
        self.single_action_space = owner.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.starts = np.cumsum([0] + [s.num_envs for s in shards]).tolist()
        self.passthrough = len(shards) == 1 and isinstance(shards[0], LocalShard) and shards[0].device == self.device
        self.obs_keys = [path[len("obs."):] for path, _, _ in owner.step_fields if path.startswith("obs.")]
        self.all_true = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.closed = False
        self._state = AsyncState.DEFAULT
        self._copy_events: list = [None] * len(shards)

    # -- call order ----------------------------------------------------------------------------
    def _claim(self, what: str) -> None:
        """Refuse a request while this view, or any of its environments through another view, waits."""
        busy = self._state != AsyncState.DEFAULT or any(s.pending for s in self.shards)
        if busy:
            state = self._state.value if self._state != AsyncState.DEFAULT else AsyncState.WAITING_STEP.value
            raise AlreadyPendingCallError(
                f"Calling `{what}` while waiting for a pending call to `{state}` to complete.", state)

    # -- exchange with the shards --------------------------------------------------------------
    def _send(self, request: Request, actions=None, mask=None, episodes=None) -> None:
        owner = self.owner
        for i, shard in enumerate(self.shards):
            a, b = self.starts[i], self.starts[i + 1]
            if self._copy_events[i] is not None:  # the reply buffer is about to be overwritten
                self._copy_events[i].synchronize()
            part = dataclasses.replace(request, shard=getattr(shard, "index", 0))
            args = tuple(None if x is None else x[a:b] for x in (actions, mask, episodes))
            try:
                shard.send(part, *args)
            except WorkerError as err:
                owner._handle_failure(shard.worker, err)
                shard.send(part, *args)  # to the restarted worker (a step is answered by the restart)

    def _wait(self, shard) -> dict:
        try:
            return shard.wait()
        except WorkerError as err:
            self.owner._handle_failure(shard.worker, err)
            return shard.wait()  # the restart's answer, or the re-sent request's

    def _gather(self, paths) -> dict[str, torch.Tensor]:
        owner = self.owner
        start = time.perf_counter()
        results = [self._wait(shard) for shard in self.shards]
        compute = [s.compute_s for s in self.shards]
        if self.passthrough:
            out = dict(results[0])
        else:  # fresh tensors every step: nothing returned earlier is overwritten
            out = {path: torch.empty(self.num_envs, *shape, dtype=dtype, device=self.device)
                   for path, shape, dtype in owner.step_fields if path in paths}
            fields = list(out)
            for i, res in enumerate(results):
                a, b = self.starts[i], self.starts[i + 1]
                for path in fields:
                    out[path][a:b].copy_(res[path], non_blocking=True)
                if "worker_restarted" in res:
                    out.setdefault("worker_restarted", torch.zeros_like(self.all_true))[a:b] = True
                if self.device.type == "cuda" and not isinstance(self.shards[i], LocalShard):
                    self._copy_events[i] = torch.cuda.Event()
                    self._copy_events[i].record()
            if owner.pool_cfg.restart_failed_workers:  # what a restart reports as the last observation
                for i, shard in enumerate(self.shards):
                    a, b = self.starts[i], self.starts[i + 1]
                    shard.last_obs = {k: out[f"obs.{k}"][a:b].clone() for k in self.obs_keys}
        owner.last_timing = {"gather_s": time.perf_counter() - start, "compute_s": compute}
        return out

    def _format_obs(self, flat: dict[str, torch.Tensor], prefix: str = "obs."):
        obs = {k: flat[f"{prefix}{k}"] for k in self.obs_keys}
        return obs["state"] if is_flat(self.cfg) else obs

    def _to_output(self, tree):
        if not self.owner.pool_cfg.numpy_obs:
            return tree
        if isinstance(tree, dict):
            return {k: self._to_output(v) for k, v in tree.items()}
        return tree.cpu().numpy() if isinstance(tree, torch.Tensor) else tree

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        owner = self.owner
        self._claim("reset")
        mask = episodes = None
        unknown = set(options or {}) - {"reset_mask", "episodes"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; expected 'reset_mask' and/or 'episodes'")
        if seed is not None:
            owner.seed_value = check_seed(seed)
        elif owner.seed_value is None:
            seed = owner.seed_value = int(np.random.SeedSequence().entropy % (2**62))
        if options and "reset_mask" in options:
            mask = torch.as_tensor(np.asarray(options["reset_mask"]) if not isinstance(
                options["reset_mask"], torch.Tensor) else options["reset_mask"])
            if mask.dtype != torch.bool or tuple(mask.shape) != (self.num_envs,):
                raise ValueError(f"reset_mask must be a bool array of shape ({self.num_envs},), "
                                 f"got dtype {mask.dtype} and shape {tuple(mask.shape)}")
            mask = mask.to(self.device)
        if options and "episodes" in options:
            episodes = torch.as_tensor(np.asarray(options["episodes"]) if not isinstance(
                options["episodes"], torch.Tensor) else options["episodes"])
            if episodes.dtype.is_floating_point or episodes.dtype == torch.bool or tuple(episodes.shape) != (
                    self.num_envs,) or (episodes < 0).any():
                raise ValueError(f"episodes must be non-negative integers of shape ({self.num_envs},), got dtype "
                                 f"{episodes.dtype} and shape {tuple(episodes.shape)}")
            episodes = episodes.to(self.device, torch.int64)
        self._send(Request(Command.RESET, difficulty=owner.difficulty, seed=seed, masked=mask is not None,
                           episodes=episodes is not None), mask=mask, episodes=episodes)
        out = self._gather({f"obs.{k}" for k in self.obs_keys})
        return self._to_output(self._format_obs(out)), {}

    def step_async(self, actions) -> None:
        self._claim("step_async")
        if not isinstance(actions, torch.Tensor):
            if self.owner.cfg.check_actions:
                check_actions(actions, self.num_envs, self.single_action_space.shape[0])
            actions = torch.as_tensor(np.asarray(actions), device=self.device)
        elif self.owner.cfg.check_actions:
            check_actions(actions, self.num_envs, self.single_action_space.shape[0], self.device)
        self._send(Request(Command.STEP, difficulty=self.owner.difficulty), actions=actions.to(torch.float32))
        self._state = AsyncState.WAITING_STEP

    def step_wait(self):
        if self._state != AsyncState.WAITING_STEP:
            raise NoAsyncCallError("Calling `step_wait` without any prior call to `step_async`.",
                                   AsyncState.WAITING_STEP.value)
        self._state = AsyncState.DEFAULT
        flat = self._gather({path for path, _, _ in self.owner.step_fields})
        tree = unflatten({k: v for k, v in flat.items() if k.startswith("info.")})["info"]
        info: dict[str, Any] = {}
        done = flat["terminated"] | flat["truncated"]
        for key, value in tree.items():
            if key.startswith("_") or key == "final_obs":
                continue
            info[key] = value
            info[f"_{key}"] = tree.get(f"_{key}", self.all_true)
        restarted = flat.get("worker_restarted")
        if restarted is not None:
            info["worker_restarted"], info["_worker_restarted"] = restarted, restarted
        if self.owner.pool_cfg.autoreset_mode == "same_step":
            info["final_obs"] = self._format_obs(flat, "info.final_obs.")
            info["_final_obs"] = tree["_final_obs"]
            info["final_info"] = {"episode_stats": info["episode_stats"], "_episode_stats": info["_episode_stats"],
                                  "success": info["success"], "_success": done, "lifted": info["lifted"],
                                  "_lifted": done}
            info["_final_info"] = done
        self.owner._update_curriculum(info["_episode_stats"], info["episode_stats"]["success"])
        obs = self._format_obs(flat)
        return tuple(self._to_output(x) for x in (obs, flat["reward"], flat["terminated"], flat["truncated"], info))

    def step(self, actions):
        self.step_async(actions)
        return self.step_wait()

    def render(self):
        self._claim("render")
        self._send(Request(Command.RENDER, difficulty=self.owner.difficulty, render_size=self.owner._render_size))
        frames = []
        for shard in self.shards:
            frames.extend(self._wait(shard)["frames"].cpu().numpy())
        return frames

    def close(self, **kwargs) -> None:
        """Halves share the owner's workers: closing a half closes nothing."""
        self.closed = True


def make_vector_env(num_envs: int = 1, obs_mode: str = "state", *, config: EnvConfig | None = None,
                    pool: PoolConfig | None = None, render_mode: str | None = None, render_width: int = 160,
                    render_height: int = 120, **kwargs) -> DisaggregatedVectorEnv:
    """The ``vector_entry_point`` of the registered ids (``gymnasium.make_vec``).

    Keyword arguments that name :class:`~dexgrasp_env.config.PoolConfig` fields (``sim_devices``,
    ``learner_device``, ``autoreset_mode``, ``pipeline``, ...) set the pool; the rest set
    :class:`~dexgrasp_env.config.EnvConfig` fields. ``autoreset_mode`` also accepts a
    ``gymnasium.vector.AutoresetMode``.
    """
    pool_fields = {f.name for f in dataclasses.fields(PoolConfig)}
    pool_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in pool_fields}
    if isinstance(pool_kwargs.get("autoreset_mode"), AutoresetMode):
        pool_kwargs["autoreset_mode"] = pool_kwargs["autoreset_mode"].value
    if "sim_devices" in pool_kwargs and pool_kwargs["sim_devices"] is not None:
        sim = pool_kwargs["sim_devices"]
        pool_kwargs["sim_devices"] = (sim,) if isinstance(sim, str) else tuple(sim)
    pool = dataclasses.replace(pool if pool is not None else PoolConfig(), **pool_kwargs)
    if config is None:
        config = make_env_config(obs_mode, **kwargs)
    elif kwargs:
        config = replace_config(config, **kwargs)
    return DisaggregatedVectorEnv(num_envs, config, pool, render_mode=render_mode, render_width=render_width,
                                  render_height=render_height)
