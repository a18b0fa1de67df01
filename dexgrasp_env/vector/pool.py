"""DisaggregatedVectorEnv: a pool of simulator workers behind Gymnasium's vector-env API.

The learner (this process) holds the policy and every buffer on ``learner_device``; simulation
and rendering run in one worker process per entry of ``sim_devices``, each on its own shard of
the environments. Every step the learner sends each worker its slice of the actions and receives
its results into preallocated tensors: one message each way per worker over torch.distributed
(Gloo through host memory, NCCL between GPUs). With ``sim_devices=None`` the environments are
simulated in this process on the learner device and nothing is copied.
"""

from __future__ import annotations

import dataclasses
import datetime
import multiprocessing as mp
import signal
import threading
import time
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.distributed as dist
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from dexgrasp_env.config import AUTORESET_MODES, EnvConfig, PoolConfig, make_env_config
from dexgrasp_env.devices import resolve_device
from dexgrasp_env.errors import WorkerError
from dexgrasp_env.task import GraspTask, action_space, check_actions, is_flat, observation_space
from dexgrasp_env.vector.layout import Layout, header, read_error, result_fields, step_results, unflatten
from dexgrasp_env.vector.worker import (
    CMD_CLOSE, CMD_READY, CMD_RENDER, CMD_RESET, CMD_STEP, IDLE_TIMEOUT, CommandLayout, ShardSpec, WorkerSpec, float_bits,
    pair_group, spawn_main, torchrun_groups,
)

_GYM_MODES = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
              "disabled": AutoresetMode.DISABLED}


def split_envs(num_envs: int, parts: int) -> list[int]:
    """Sizes of ``parts`` blocks of ``num_envs`` environments, as even as possible."""
    base, extra = divmod(num_envs, parts)
    return [base + (i < extra) for i in range(parts)]


# ------------------------------------------------------------------------------------------------
# Shards: a block of environments simulated in-process or by a worker
# ------------------------------------------------------------------------------------------------
class _LocalShard:
    """Environments simulated in this process."""

    def __init__(self, cfg: EnvConfig, spec: ShardSpec, device: str, autoreset_mode: str) -> None:
        self.offset, self.num_envs = spec.offset, spec.num_envs
        self.task = GraspTask(cfg, spec.num_envs, device, env_offset=spec.offset, autoreset_mode=autoreset_mode)
        self.device = self.task.device
        self._result: dict | None = None
        self.compute_s = 0.0

    def send(self, command: int, difficulty: float, actions=None, seed=None, mask=None, size=None) -> None:
        start = time.perf_counter()
        self.task.difficulty = difficulty
        if command == CMD_STEP:
            self._result = step_results(*self.task.step(actions))
        elif command == CMD_RESET:
            self._result = step_results(self.task.reset(seed=seed, mask=mask), None, None, None, {})
        else:  # CMD_RENDER
            self._result = {"frames": self.task.sim.render_viewer(*size)}
        self.compute_s = time.perf_counter() - start

    def wait(self) -> dict:
        return self._result

    def memory_bytes(self) -> int:
        return self.task.sim.memory_bytes()


class _RemoteShard:
    """One of a worker's shards; requests go through the worker in order."""

    def __init__(self, worker: _Worker, index: int, spec: ShardSpec) -> None:
        self.worker, self.index = worker, index
        self.offset, self.num_envs = spec.offset, spec.num_envs
        self.pending: dict | None = None  # results to deliver instead of stepping (after a restart)
        self.compute_s = 0.0

    def send(self, command: int, difficulty: float, actions=None, seed=None, mask=None, size=None) -> None:
        if self.pending is not None and command == CMD_STEP:
            return
        self.worker.send(self.index, command, difficulty, actions, seed, mask, size)

    def wait(self) -> dict:
        if self.pending is not None:
            out, self.pending = self.pending, None
            return out
        return self.worker.wait(self.index)


class _Worker:
    """A simulator worker process (or torchrun rank) and the pair group to it."""

    def __init__(self, pool: DisaggregatedVectorEnv, spec: WorkerSpec, group=None) -> None:
        self.pool, self.spec = pool, spec
        self.index, self.device = spec.index, spec.device
        self.generation = 0
        self.process: mp.Process | None = None
        self.group = group
        self.timed_out = False
        self.closed = False
        layouts = [Layout(result_fields(spec.cfg, spec.autoreset_mode), s.num_envs) for s in spec.shards]
        comm = spec.comm_device
        pin = comm.type == "cpu" and pool.device.type == "cuda"
        self.layouts = layouts
        self.replies = [lay.empty(comm, pin=pin) for lay in layouts]
        self.reply_views = [lay.views(buf) for lay, buf in zip(layouts, self.replies)]
        self.cmd_layout = CommandLayout(max(s.num_envs for s in spec.shards))
        self.commands = [self.cmd_layout.empty(comm) for _ in spec.shards]
        self.sends: list = [None] * len(spec.shards)
        self.queue: deque[tuple[int, int]] = deque()  # (shard, command) sent and not yet answered
        self.render_bufs: dict = {}
        self.shards = [_RemoteShard(self, i, s) for i, s in enumerate(spec.shards)]
        if group is not None:  # a torchrun rank, already running
            self.queue.append((0, CMD_READY))

    # -- process management --------------------------------------------------------------
    def _prefix(self) -> str:
        return f"dexgrasp/w{self.index}/g{self.generation}"

    def spawn(self) -> None:
        """Start the process; :meth:`connect` then joins it (workers start in parallel)."""
        ctx = mp.get_context(self.pool.pool_cfg.start_method)
        self.process = ctx.Process(target=spawn_main,
                                   args=(self.spec, "127.0.0.1", self.pool._store.port, self._prefix()),
                                   name=f"dexgrasp-sim-{self.index}", daemon=True)
        self.process.start()
        self.queue.clear()
        self.sends = [None] * len(self.spec.shards)
        self.timed_out = False

    def connect(self, timeout_s: float = 300.0) -> None:
        """Join the pair group; the worker's READY reply is awaited by :meth:`wait_ready`.

        The worker first announces itself in the store; until it does, the process is watched,
        so a worker that dies while starting fails at once instead of stalling the rendezvous.
        """
        key = f"{self._prefix()}/hello"
        deadline = time.monotonic() + timeout_s
        while not self.pool._store.check([key]):
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.process.join(1)
                code = self.process.exitcode
                raise WorkerError(self.index, self.device, (
                    f"the worker process {'exited with code ' + str(code) if code is not None else 'did not start'} "
                    f"before it connected. If your script makes the pool at import time, put that code under "
                    f"`if __name__ == '__main__':` (workers start with the 'spawn' method and import your script)."))
            time.sleep(0.05)
        self.group = pair_group(self.pool._store, self._prefix(), 0, self.spec.backend, self.device, IDLE_TIMEOUT)
        self.queue.append((0, CMD_READY))

    def wait_ready(self) -> None:
        """Wait (unwatched: kernels may compile for minutes) until the worker built its simulators."""
        self._receive(*self.queue.popleft(), watch=False)

    def start(self) -> None:
        self.spawn()
        self.connect()
        self.wait_ready()

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join(5)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.group is None:  # never connected
            self.kill()
            return
        if self.process is None:  # torchrun rank: ask it to stop
            try:
                self._send_command(0, CMD_CLOSE, 0.0)
                self.sends[0].wait()
            except RuntimeError:
                pass
            return
        if self.process.is_alive():
            try:
                self._send_command(0, CMD_CLOSE, 0.0)
            except RuntimeError:
                pass
            self.process.join(5)
        self.kill()

    # -- requests ------------------------------------------------------------------------
    def _send_command(self, shard: int, command: int, difficulty: float, actions=None, seed=None, mask=None,
                      size=(0, 0)) -> None:
        if self.sends[shard] is not None:
            self.sends[shard].wait()
        buf = self.commands[shard]
        hdr, act, msk = self.cmd_layout.views(buf)
        n = self.spec.shards[shard].num_envs
        hdr.copy_(torch.tensor([command, shard, seed is not None, 0 if seed is None else seed, mask is not None,
                                float_bits(difficulty), size[0], size[1]], dtype=torch.int64))
        if actions is not None:
            act[:n].copy_(actions)
        if mask is not None:
            msk[:n].copy_(mask)
        self.sends[shard] = self.group.send([buf], 1, 0)

    def send(self, shard, command, difficulty, actions=None, seed=None, mask=None, size=None) -> None:
        try:
            self._send_command(shard, command, difficulty, actions, seed, mask, size or (0, 0))
        except RuntimeError as exc:
            raise self.failure(exc) from None
        if command != CMD_CLOSE:
            self.queue.append((shard, command))

    def _receive(self, shard: int, command: int, watch: bool = True) -> None:
        if command == CMD_RENDER:
            key = shard
            n = self.spec.shards[shard].num_envs
            w, h = self.pool._render_size
            buf = self.render_bufs.get((key, w, h))
            if buf is None:
                buf = self.render_bufs[(key, w, h)] = torch.zeros(64 + n * w * h * 3, dtype=torch.uint8,
                                                                  device=self.spec.comm_device)
        else:
            buf = self.replies[shard]
        if watch:
            self.pool._watch(self)
        try:
            self.group.recv([buf], 1, 0).wait()
        except RuntimeError as exc:
            raise self.failure(exc) from None
        finally:
            self.pool._unwatch(self)
        text = read_error(buf)
        if text is not None:
            self.kill()
            raise WorkerError(self.index, self.device, text)
        self.shards[shard].compute_s = int(header(buf)[1]) * 1e-9

    def wait(self, shard: int) -> dict:
        """Receive replies in the order requested until ``shard``'s reply is in."""
        while True:
            if not self.queue:
                raise RuntimeError(f"no request outstanding for shard {shard} of worker {self.index}")
            s, command = self.queue.popleft()
            self._receive(s, command)
            if s == shard:
                break
        if command == CMD_RENDER:
            n = self.spec.shards[shard].num_envs
            w, h = self.pool._render_size
            return {"frames": self.render_bufs[(shard, w, h)][64:].view(n, h, w, 3)}
        return self.reply_views[shard]

    def failure(self, exc: Exception) -> WorkerError:
        """The error to raise after the connection to this worker broke."""
        if self.process is not None:
            self.process.join(2)
        if self.timed_out:
            how = f"no reply within {self.pool.pool_cfg.worker_timeout_s:g} s; the worker was killed"
        elif self.process is not None and self.process.exitcode is not None:
            code = self.process.exitcode
            how = f"the worker process exited with code {code}"
            if code < 0:
                how += f" (killed by {signal.Signals(-code).name})"
        else:
            how = "the connection to the worker broke"
        return WorkerError(self.index, self.device, f"{how}\n(transport: {exc})")


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
    with ``pool.numpy_obs``). ``info`` holds per-env ``success``, ``diverged`` and
    ``reward/<term>``; ``episode_stats`` (``r``, ``l``, ``success``) with mask ``_episode_stats``
    for episodes that just ended; in ``same_step`` mode ``final_obs`` and ``final_info``
    (masks ``_final_obs``, ``_final_info``); ``worker_restarted`` when a worker was restarted.

    Raises:
        WorkerError: A worker raised, died or stopped answering (unless it may be restarted).
        ValueError: A bad layout (unknown device, fewer environments than workers, ...).
    """

    def __init__(self, num_envs: int, config: EnvConfig | None = None, pool: PoolConfig | None = None,
                 render_mode: str | None = None, render_width: int = 160, render_height: int = 120) -> None:
        self.cfg = config if config is not None else make_env_config("state")
        self.pool_cfg = pool = pool if pool is not None else PoolConfig()
        self.closed = True  # until the workers are up
        self._workers: list[_Worker] = []
        self._store = None
        self._halves = None
        if int(num_envs) != num_envs or num_envs < 1:
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
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.seed_value: int | None = None
        self.difficulty = (self.cfg.randomization.curriculum.initial_difficulty
                           if self.cfg.randomization.curriculum.enabled else 1.0)
        self._curriculum_episodes = 0
        self._curriculum_successes = 0
        self.last_timing: dict[str, Any] = {}
        self._deadlines: dict[int, float] = {}
        self._watch_lock = threading.Lock()
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
            return [_LocalShard(cfg, ShardSpec(o, n), str(self.device), pool.autoreset_mode)
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
            raise ValueError(f"sim_devices has {len(devices)} entries but the torchrun job has {world - 1} worker ranks")
        resolved = [resolve_device(d) for d in devices]
        backend = self._backend(resolved)
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
                self._workers = [_Worker(self, spec, groups[i]) for i, spec in enumerate(specs)]
            else:
                self._store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                                            timeout=datetime.timedelta(seconds=120))
                self._watchdog = threading.Thread(target=self._watchdog_loop, daemon=True, name="dexgrasp-watchdog")
                self._watchdog.start()
                self._workers = [_Worker(self, spec) for spec in specs]
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

    def _backend(self, devices: list[torch.device]) -> str:
        everything = devices + [self.device]
        all_cuda = all(d.type == "cuda" for d in everything)
        requested = self.pool_cfg.transport
        if requested == "nccl" and not all_cuda:
            raise ValueError(
                f"transport='nccl' needs the learner and every worker on CUDA, got learner {self.device} and "
                f"sim_devices {[str(d) for d in devices]}; use transport='gloo' (through host memory)")
        if requested not in ("auto", "gloo", "nccl"):
            raise ValueError(f"transport={requested!r} is unknown; expected 'auto', 'gloo' or 'nccl'")
        if requested == "auto":
            return "nccl" if all_cuda else "gloo"
        return requested

    # -- watchdog: a silent worker is killed, which turns a hang into a broken connection ----
    def _watch(self, worker: _Worker) -> None:
        with self._watch_lock:
            self._deadlines[worker.index] = time.monotonic() + self.pool_cfg.worker_timeout_s

    def _unwatch(self, worker: _Worker) -> None:
        with self._watch_lock:
            self._deadlines.pop(worker.index, None)

    def _watchdog_loop(self) -> None:
        while not getattr(self, "_stop_watchdog", False):
            time.sleep(0.25)
            now = time.monotonic()
            with self._watch_lock:
                late = [i for i, t in self._deadlines.items() if now > t]
            for i in late:
                worker = self._workers[i]
                worker.timed_out = True
                worker.kill()

    # -- failures ------------------------------------------------------------------------------
    def _handle_failure(self, worker: _Worker, error: WorkerError, shard) -> dict:
        """Restart ``worker`` and return ``shard``'s results, or shut down and raise."""
        if not self.pool_cfg.restart_failed_workers or worker.process is None:
            self._shutdown()
            raise error
        worker.kill()
        worker.generation += 1
        worker.start()
        seed = (self.seed_value or 0) * 1_000_003 + worker.generation
        for s in worker.shards:
            s.pending = None
            worker.send(s.index, CMD_RESET, self.difficulty, seed=seed)
            results = {k: v.clone() for k, v in worker.wait(s.index).items()}
            results["truncated"].fill_(True)
            results["worker_restarted"] = torch.ones(s.num_envs, dtype=torch.bool, device=results["reward"].device)
            s.pending = results
        return shard.wait()

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset all environments (or those in ``options["reset_mask"]``) and return observations.

        Args:
            seed: One integer: environment ``i`` then depends only on ``(seed, i)``, however many
                workers there are.
            options: ``{"reset_mask": (num_envs,) bool}`` resets only those environments.
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
        frames = self._view.render()
        return tuple(frames)

    def close_extras(self, **kwargs) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self._stop_watchdog = True
        for worker in self._workers:
            worker.close()
        self._store = None
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this vector environment is closed")

    # -- curriculum ------------------------------------------------------------------------------
    def _update_curriculum(self, done: torch.Tensor, success: torch.Tensor) -> None:
        cur = self.cfg.randomization.curriculum
        if not cur.enabled:
            return
        self._curriculum_episodes += int(done.sum())
        self._curriculum_successes += int((done & success).sum())
        if self._curriculum_episodes >= cur.min_episodes:
            rate = self._curriculum_successes / self._curriculum_episodes
            if rate > cur.threshold:
                self.difficulty = min(1.0, self.difficulty + cur.step)
            self._curriculum_episodes = self._curriculum_successes = 0

    def worker_pids(self) -> list[int | None]:
        """Process id of each simulator worker (``None`` for torchrun ranks, which may be remote)."""
        return [w.process.pid if w.process is not None else None for w in self._workers]

    def memory_bytes(self) -> dict[str, int]:
        """Bytes of simulator state held in this process (in-process shards only)."""
        return {"local_sim": sum(s.memory_bytes() for s in self._shards if isinstance(s, _LocalShard))}


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
        self.passthrough = len(shards) == 1 and isinstance(shards[0], _LocalShard) and shards[0].device == self.device
        self.fields = result_fields(self.cfg, owner.pool_cfg.autoreset_mode)
        self.all_true = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.closed = False
        self._copy_events: list = [None] * len(shards)

    # -- exchange with the shards --------------------------------------------------------------
    def _send(self, command: int, actions=None, seed=None, mask=None) -> None:
        owner = self.owner
        for i, shard in enumerate(self.shards):
            a, b = self.starts[i], self.starts[i + 1]
            if self._copy_events[i] is not None:  # the reply buffer is about to be overwritten
                self._copy_events[i].synchronize()
            try:
                shard.send(command, owner.difficulty, None if actions is None else actions[a:b], seed,
                           None if mask is None else mask[a:b], owner._render_size)
            except WorkerError as err:
                shard.pending = owner._handle_failure(shard.worker, err, shard)

    def _gather(self, keys=None) -> dict[str, torch.Tensor]:
        owner = self.owner
        start = time.perf_counter()
        results = []
        for shard in self.shards:
            try:
                results.append(shard.wait())
            except WorkerError as err:
                results.append(owner._handle_failure(shard.worker, err, shard))
        compute = [s.compute_s for s in self.shards]
        if self.passthrough:
            out = dict(results[0])
            out.setdefault("worker_restarted", torch.zeros_like(self.all_true))
        else:  # fresh tensors every step: nothing returned earlier is overwritten
            out = {path: torch.empty(self.num_envs, *shape, dtype=dtype, device=self.device)
                   for path, shape, dtype in self.fields
                   if keys is None or path.split(".")[0] in keys}
            out["worker_restarted"] = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
            for i, res in enumerate(results):
                a, b = self.starts[i], self.starts[i + 1]
                for path, value in res.items():
                    if path in out:
                        out[path][a:b].copy_(value, non_blocking=True)
                if self.device.type == "cuda" and not isinstance(self.shards[i], _LocalShard):
                    self._copy_events[i] = torch.cuda.Event()
                    self._copy_events[i].record()
        owner.last_timing = {"gather_s": time.perf_counter() - start, "compute_s": compute}
        return out

    def _format_obs(self, flat: dict[str, torch.Tensor], prefix: str = "obs."):
        obs = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
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
        mask = None
        if seed is not None:
            if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
                raise ValueError(f"seed={seed!r} must be one integer (environment i then uses (seed, i))")
            owner.seed_value = int(seed)
        elif owner.seed_value is None:
            seed = owner.seed_value = int(np.random.SeedSequence().entropy % (2**62))
        if options and "reset_mask" in options:
            mask = torch.as_tensor(np.asarray(options["reset_mask"]) if not isinstance(
                options["reset_mask"], torch.Tensor) else options["reset_mask"])
            if mask.dtype != torch.bool or tuple(mask.shape) != (self.num_envs,):
                raise ValueError(f"reset_mask must be a bool array of shape ({self.num_envs},), "
                                 f"got dtype {mask.dtype} and shape {tuple(mask.shape)}")
            mask = mask.to(self.device)
        self._send(CMD_RESET, seed=seed, mask=mask)
        out = self._gather(keys=("obs",))
        return self._to_output(self._format_obs(out)), {}

    def step_async(self, actions) -> None:
        if not isinstance(actions, torch.Tensor):
            if self.owner.cfg.check_actions:
                check_actions(actions, self.num_envs)
            actions = torch.as_tensor(np.asarray(actions), device=self.device)
        elif self.owner.cfg.check_actions:
            check_actions(actions, self.num_envs, self.device)
        self._send(CMD_STEP, actions=actions.to(torch.float32))

    def step_wait(self):
        flat = self._gather()
        tree = unflatten({k: v for k, v in flat.items() if k.startswith("info.")})["info"]
        info: dict[str, Any] = {}
        done = flat["terminated"] | flat["truncated"]
        for key, value in tree.items():
            if key.startswith("_") or key == "final_obs":
                continue
            info[key] = value
            info[f"_{key}"] = tree.get(f"_{key}", self.all_true)
        restarted = flat["worker_restarted"]
        if self.owner._workers and bool(restarted.any()):
            info["worker_restarted"], info["_worker_restarted"] = restarted, restarted
        if self.owner.pool_cfg.autoreset_mode == "same_step":
            info["final_obs"] = self._format_obs(flat, "info.final_obs.")
            info["_final_obs"] = tree["_final_obs"]
            info["final_info"] = {"episode_stats": info["episode_stats"], "_episode_stats": done,
                                  "success": info["success"], "_success": done}
            info["_final_info"] = done
        self.owner._update_curriculum(info["_episode_stats"], info["episode_stats"]["success"])
        obs = self._format_obs(flat)
        return tuple(self._to_output(x) for x in (obs, flat["reward"], flat["terminated"], flat["truncated"], info))

    def step(self, actions):
        self.step_async(actions)
        return self.step_wait()

    def render(self):
        self._send(CMD_RENDER)
        frames = []
        for shard in self.shards:
            frames.extend(shard.wait()["frames"].cpu().numpy())
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
        config = dataclasses.replace(config, **kwargs)
    return DisaggregatedVectorEnv(num_envs, config, pool, render_mode=render_mode, render_width=render_width,
                                  render_height=render_height)
