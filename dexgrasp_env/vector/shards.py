"""The learner's side of the shards: environments simulated in this process, and worker processes.

A :class:`DisaggregatedVectorEnv` (:mod:`dexgrasp_env.vector.pool`) holds one shard per block of
environments. A :class:`LocalShard` simulates its block in the learner's process; a
:class:`RemoteShard` is one of a :class:`Worker`'s shards, and the worker owns the process (or
torchrun rank), its pair group and the request and reply buffers of the wire protocol
(:mod:`dexgrasp_env.vector.protocol`). The pool decides what to send and when; these classes move
the bytes, watch the process and restart it.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.process import BaseProcess
from typing import Any

import torch

from dexgrasp_env.config import EnvConfig
from dexgrasp_env.errors import WorkerError
from dexgrasp_env.task import GraspTask
from dexgrasp_env.vector.protocol import (
    Command, Request, RequestBuffer, compute_seconds, read_error, render_frames, render_reply,
)
from dexgrasp_env.vector.schema import Layout, check_keys, reset_fields, reset_results, step_fields, step_results
from dexgrasp_env.vector.worker import IDLE_TIMEOUT, ShardSpec, WorkerSpec, pair_group, spawn_main, start_context


class Watchdog:
    """Kills a worker that stays silent past its deadline, which turns an NCCL hang into a broken connection.

    Why a thread: an NCCL receive cannot wait with a deadline (Gloo's can), so a worker that hangs would hang the
    learner with it.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._deadlines: dict[int, tuple[float, Worker]] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="dexgrasp-watchdog")
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True

    def watch(self, worker: Worker) -> None:
        """``worker`` must answer within the timeout from now."""
        with self._lock:
            self._deadlines[worker.index] = (time.monotonic() + self.timeout_s, worker)

    def unwatch(self, worker: Worker) -> None:
        with self._lock:
            self._deadlines.pop(worker.index, None)

    def _loop(self) -> None:
        while not self._stopped:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                late = [worker for deadline, worker in self._deadlines.values() if now > deadline]
            for worker in late:
                worker.timed_out = True
                worker.kill()


class LocalShard:
    """Environments simulated in this process.

    ``pending``: a request was sent and its reply not yet taken (the pool refuses another request to a shard that
    waits, also through another view of the same environments).
    """

    def __init__(self, cfg: EnvConfig, spec: ShardSpec, device: str, autoreset_mode: str) -> None:
        self.offset, self.num_envs = spec.offset, spec.num_envs
        self.task = GraspTask(cfg, spec.num_envs, device, env_offset=spec.offset, autoreset_mode=autoreset_mode)
        self.device = self.task.device
        self.fields = step_fields(cfg, autoreset_mode)
        self._result: dict | None = None
        self.pending = False
        self.compute_s = 0.0

    def send(self, request: Request, actions=None, mask=None, episodes=None) -> None:
        start = time.perf_counter()
        self.pending = True
        task = self.task
        task.difficulty = request.difficulty
        if request.command == Command.STEP:
            self._result = step_results(*task.step(actions))
            check_keys(self._result, self.fields)
        elif request.command == Command.RESET:
            self._result = reset_results(task.reset(seed=request.seed, mask=mask, ended=request.ended,
                                                    episodes=episodes))
        else:  # RENDER
            self._result = {"frames": task.sim.render_viewer(*request.render_size)}
        self.compute_s = time.perf_counter() - start

    def wait(self) -> dict:
        out, self._result = self._result, None
        self.pending = False
        return out

    def memory_bytes(self) -> int:
        return self.task.sim.memory_bytes()

    def close(self) -> None:
        self.task.close()


class RemoteShard:
    """One of a worker's shards; requests go through the worker in order."""

    def __init__(self, worker: Worker, index: int, spec: ShardSpec) -> None:
        self.worker, self.index = worker, index
        self.offset, self.num_envs = spec.offset, spec.num_envs
        self.restarted: dict | None = None  # the first observation after a restart, until a step reports it
        self.last_obs: dict | None = None  # what the learner last received of this shard (kept for restarts)
        self.short = False  # the next wait answers a step with the restart, without asking the worker
        self.pending = False
        self.compute_s = 0.0

    def send(self, request: Request, actions=None, mask=None, episodes=None) -> None:
        if request.command == Command.STEP and self.restarted is not None:
            self.short = True
        else:
            self.worker.send(self.index, request, actions, mask, episodes)
        self.pending = True

    def wait(self) -> dict:
        try:
            if self.short:
                self.short = False
                out = self.restart_step()
                self.restarted = None
                return out
            return self.worker.wait(self.index)
        finally:
            self.pending = False

    def restart_step(self) -> dict[str, torch.Tensor]:
        """The step result that reports this restarted shard's episodes as ended: the last observation the
        learner received with ``truncated`` (``next_step``), or the restart's first observation with the last one
        as ``final_obs`` (``same_step``); zero reward, ``worker_restarted`` set."""
        n, dev = self.num_envs, self.restarted[next(iter(self.restarted))].device
        out = {path: torch.zeros(n, *shape, dtype=dtype, device=dev) for path, shape, dtype in self.worker.step_fields}
        last = self.last_obs if self.last_obs is not None else self.restarted
        same_step = self.worker.spec.autoreset_mode == "same_step"
        for key, value in (self.restarted if same_step else last).items():
            out[f"obs.{key}"].copy_(value)
        if same_step:
            for key, value in last.items():
                out[f"info.final_obs.{key}"].copy_(value)
            out["info._final_obs"].fill_(True)
        out["truncated"].fill_(True)
        out["worker_restarted"] = torch.ones(n, dtype=torch.bool, device=dev)
        return out


class Worker:
    """A simulator worker process (or torchrun rank) and the pair group to it."""

    def __init__(self, pool: Any, spec: WorkerSpec, group=None) -> None:
        """``pool``: the :class:`~dexgrasp_env.vector.pool.DisaggregatedVectorEnv` that owns this worker (its
        public ``pool_cfg``, ``store``, ``watchdog``, ``device``, ``step_fields`` and action space; not imported
        here, so that the pool depends on its shards and not the other way round)."""
        self.pool, self.spec = pool, spec
        self.index, self.device = spec.index, spec.device
        self.generation = 0
        self.process: BaseProcess | None = None
        self.group = group
        self.timed_out = False
        self.closed = False
        self.exiting = False  # CLOSE sent, the process not yet joined
        comm = spec.comm_device
        pin = comm.type == "cpu" and pool.device.type == "cuda"
        self.step_fields, self.reset_paths = pool.step_fields, {p for p, _, _ in reset_fields(spec.cfg)}
        self.layouts = [Layout(self.step_fields, s.num_envs) for s in spec.shards]
        self.replies = [lay.empty(comm, pin=pin) for lay in self.layouts]
        self.reply_views = [lay.views(buf) for lay, buf in zip(self.layouts, self.replies)]
        self.requests = [RequestBuffer(spec.max_envs, pool.single_action_space.shape[0], comm) for _ in spec.shards]
        self.sends: list = [None] * len(spec.shards)
        self.queue: deque[tuple[int, Request]] = deque()  # sent and not yet received, in order
        self.ready: dict[int, Request] = {}  # received and not yet taken, by shard
        self.render_bufs: dict = {}
        self.shards = [RemoteShard(self, i, s) for i, s in enumerate(spec.shards)]
        if group is not None:  # a torchrun rank, already running
            self.queue.append((0, Request(Command.READY)))

    # -- process management --------------------------------------------------------------
    def _prefix(self) -> str:
        return f"dexgrasp/w{self.index}/g{self.generation}"

    def spawn(self) -> None:
        """Start the process; :meth:`connect` then joins it (workers start in parallel)."""
        ctx = start_context(self.pool.pool_cfg.start_method, self.spec)
        self.process = ctx.Process(target=spawn_main,
                                   args=(self.spec, "127.0.0.1", self.pool.store.port, self._prefix(),
                                         dict(os.environ)),
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
        while not self.pool.store.check([key]):
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.process.join(1)
                code = self.process.exitcode
                raise WorkerError(self.index, self.device, (
                    f"the worker process {'exited with code ' + str(code) if code is not None else 'did not start'} "
                    f"before it connected. If your script makes the pool at import time, put that code under "
                    f"`if __name__ == '__main__':` (workers start by importing your script, whether spawned or "
                    f"forked from a forkserver)."))
            time.sleep(0.05)
        self.group = pair_group(self.pool.store, self._prefix(), 0, self.spec.backend, self.device, IDLE_TIMEOUT)
        self.queue.append((0, Request(Command.READY)))

    def wait_ready(self) -> None:
        """Wait (unwatched: kernels may compile for minutes) until the worker built its simulators."""
        shard, request = self.queue.popleft()
        self._receive(shard, request, watch=False)

    def start(self) -> None:
        self.spawn()
        self.connect()
        self.wait_ready()

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None and self.process.pid is not None:  # a failed start() leaves none to join
            self.process.join(5)

    def request_close(self) -> None:
        """Send ``CLOSE`` and return without waiting for the process to exit.

        Why two steps: a worker takes seconds to exit (it closes its simulators and its process
        group), and a pool that asks all its workers first and then joins them stops in the time of
        the slowest, not the sum.
        """
        if self.closed:
            return
        self.closed = True
        if self.group is None or (self.process is not None and not self.process.is_alive()):
            return  # never connected, or already dead: join kills it
        try:
            self._send(0, Request(Command.CLOSE))
            if self.process is None:  # a torchrun rank: it stops when the request has arrived
                self.sends[0].wait()
            else:
                self.exiting = True
        except RuntimeError:
            pass

    def join(self) -> None:
        """Wait up to 5 s for a process that was asked to stop, then kill it if it still runs."""
        if self.process is None:
            return
        if self.exiting:
            self.process.join(5)
            self.exiting = False
        self.kill()

    # -- requests ------------------------------------------------------------------------
    def _send(self, shard: int, request: Request | None, actions=None, mask=None, episodes=None) -> None:
        """Send shard's request buffer, packed with ``request`` first unless ``None`` (a re-send)."""
        if self.sends[shard] is not None:
            self.sends[shard].wait()
        if request is not None:
            self.requests[shard].pack(request, actions, mask, episodes)
        self.sends[shard] = self.group.send([self.requests[shard].buf], 1, 0)

    def send(self, shard: int, request: Request, actions=None, mask=None, episodes=None) -> None:
        try:
            self._send(shard, request, actions, mask, episodes)
        except RuntimeError as exc:
            raise self.failure(exc) from None
        self.queue.append((shard, request))

    def resend(self, shard: int, request: Request) -> None:
        """Send a request again (to a restarted worker), exactly as it was packed."""
        self._send(shard, None)
        self.queue.append((shard, request))

    def _reply_buffer(self, shard: int, request: Request) -> torch.Tensor:
        if request.command != Command.RENDER:
            return self.replies[shard]
        w, h = request.render_size
        key = (shard, w, h)
        if key not in self.render_bufs:
            self.render_bufs[key] = render_reply(self.spec.shards[shard].num_envs, w, h, self.spec.comm_device)
        return self.render_bufs[key]

    def _receive(self, shard: int, request: Request, watch: bool = True) -> None:
        buf = self._reply_buffer(shard, request)
        timeout = self.pool.pool_cfg.worker_timeout_s if watch else None
        nccl = self.spec.backend == "nccl"
        if watch and nccl:
            self.pool.watchdog.watch(self)
        try:
            work = self.group.recv([buf], 1, 0)
            # Gloo waits with a deadline (spawned workers and torchrun ranks alike); NCCL through the
            # watchdog, which kills a silent spawned worker
            work.wait(datetime.timedelta(seconds=timeout)) if timeout is not None and not nccl else work.wait()
        except RuntimeError as exc:
            if "Timed out" in str(exc):
                self.timed_out = True
                self.kill()
            raise self.failure(exc) from None
        finally:
            if watch and nccl:
                self.pool.watchdog.unwatch(self)
        text = read_error(buf)
        if text is not None:
            self.kill()
            raise WorkerError(self.index, self.device, text)
        self.shards[shard].compute_s = compute_seconds(buf)

    def wait(self, shard: int) -> dict:
        """The reply to ``shard``'s request, receiving earlier replies (of the other shard) on the way."""
        while shard not in self.ready:
            if not self.queue:
                raise RuntimeError(f"no request outstanding for shard {shard} of worker {self.index}")
            s, request = self.queue[0]
            self._receive(s, request)  # on failure the request stays queued: a restart settles it
            self.queue.popleft()
            self.ready[s] = request
        request = self.ready.pop(shard)
        n = self.spec.shards[shard].num_envs
        if request.command == Command.RENDER:
            return {"frames": render_frames(self._reply_buffer(shard, request), n, *request.render_size)}
        if request.command == Command.RESET:
            if not request.masked:  # a full reset supersedes a restart's pending report
                self.shards[shard].restarted = None
            return {k: v for k, v in self.reply_views[shard].items() if k in self.reset_paths}
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

    def restart(self, seed: int, difficulty: float) -> None:
        """Replace the dead process, reset its environments and settle the requests it never answered."""
        unanswered = list(self.queue)
        self.kill()
        self.generation += 1
        self.start()
        for shard in self.shards:
            # a scratch reply, so that replies the dead worker delivered and nobody took yet stay readable
            scratch = self.layouts[shard.index].empty(self.spec.comm_device)
            self.requests[shard.index].pack(Request(Command.RESET, shard.index, difficulty, seed, ended=True))
            self.group.send([self.requests[shard.index].buf], 1, 0).wait()
            self.group.recv([scratch], 1, 0).wait()
            text = read_error(scratch)
            if text is not None:
                raise WorkerError(self.index, self.device, text)
            views = self.layouts[shard.index].views(scratch, self.reset_paths)
            shard.restarted = {k[len("obs."):]: v.clone() for k, v in views.items()}
        for s, request in unanswered:
            if request.command == Command.STEP:
                self.shards[s].short = True
            else:
                self.resend(s, request)
