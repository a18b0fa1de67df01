"""Simulator workers: one process per simulation device, serving the learner over torch.distributed.

A worker owns one or two shards (two when the pool pipelines: halves of its environments that
step alternately). It talks to the learner over a two-member process group: rank 0 the learner,
rank 1 the worker. Every request and reply is one fixed-layout message
(:mod:`dexgrasp_env.vector.protocol`); when the worker raises, its reply carries the traceback
instead and the worker exits.

Workers are started either by the pool itself (``multiprocessing`` spawn, a ``TCPStore`` hosted
by the learner) or by ``torchrun``, where every rank above 0 calls :func:`serve_worker`.
"""

from __future__ import annotations

import datetime
import multiprocessing as mp
import os
import sys
import time
import traceback
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dexgrasp_env.config import START_METHODS, EnvConfig
from dexgrasp_env.vector.protocol import (
    Command, Request, RequestBuffer, mark_ok, render_frames, render_reply, write_error,
)

FAULT_ENV = "DEXGRASP_INJECT_FAULT"
"""Testing hook: ``"<worker index>:<step>"`` makes that worker raise at that step of its first shard;
``"<worker index>:<step>:hang"`` makes it stop answering instead."""
#: How long an idle worker waits for its next request (the learner may train for a long time).
IDLE_TIMEOUT = datetime.timedelta(days=7)


@dataclass(frozen=True)
class ShardSpec:
    """A contiguous block of environments: global index of the first, and how many."""

    offset: int
    num_envs: int


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to build its shards."""

    index: int
    device: str
    cfg: EnvConfig
    shards: tuple[ShardSpec, ...]
    autoreset_mode: str
    backend: str
    """``"gloo"`` (buffers in host memory) or ``"nccl"`` (buffers on the worker's GPU)."""

    @property
    def comm_device(self) -> torch.device:
        return torch.device(self.device) if self.backend == "nccl" else torch.device("cpu")

    @property
    def max_envs(self) -> int:
        return max(s.num_envs for s in self.shards)


def pair_group(store: dist.Store, prefix: str, rank: int, backend: str, device: str, timeout: datetime.timedelta):
    """A two-member process group (learner rank 0, worker rank 1) on its own store prefix."""
    prefixed = dist.PrefixStore(prefix, store)
    if backend == "nccl":
        opts = dist.ProcessGroupNCCL.Options()
        opts._timeout = timeout
        torch.cuda.set_device(torch.device(device))
        return dist.ProcessGroupNCCL(prefixed, rank, 2, opts)
    return dist.ProcessGroupGloo(prefixed, rank, 2, timeout)


def _injected_fault(index: int) -> tuple[int | None, bool]:
    """The step at which this worker fails (``None``: never), and whether it hangs rather than raises."""
    value = os.environ.get(FAULT_ENV)
    if not value:
        return None, False
    worker, step, *how = value.split(":")
    return (int(step) if int(worker) == index else None), how == ["hang"]


class _Server:
    """A worker's shards and buffers; :meth:`handle` answers every command of the protocol."""

    def __init__(self, spec: WorkerSpec) -> None:
        from dexgrasp_env.actions import action_dim
        from dexgrasp_env.vector.schema import Layout, reset_fields, step_fields

        self.spec = spec
        comm = spec.comm_device
        self.step_fields, self.reset_fields = step_fields(spec.cfg, spec.autoreset_mode), reset_fields(spec.cfg)
        # every reply buffer exists before anything can fail, so a failure reply has the size the
        # learner expects
        self.layouts = [Layout(self.step_fields, s.num_envs) for s in spec.shards]
        self.replies = [layout.empty(comm) for layout in self.layouts]
        self.request = RequestBuffer(spec.max_envs, action_dim(spec.cfg), comm)
        self.render_replies: dict = {}
        self.tasks: list = []
        (self.fault_step, self.hang), self.steps = _injected_fault(spec.index), 0

    def build(self) -> None:
        """Build the shards' simulators and load every kernel (before the READY reply)."""
        from dexgrasp_env.task import GraspTask

        self.tasks = [GraspTask(self.spec.cfg, s.num_envs, self.spec.device, env_offset=s.offset,
                                autoreset_mode=self.spec.autoreset_mode) for s in self.spec.shards]
        for task in self.tasks:
            task.warmup()

    def handle(self, request: Request) -> torch.Tensor:
        """Carry out one request; returns the reply buffer to send."""
        from dexgrasp_env.vector.schema import reset_results, step_results

        task = self.tasks[request.shard]
        n = task.num_envs
        task.difficulty = request.difficulty
        start = time.perf_counter_ns()
        if request.command == Command.STEP:
            self.steps += request.shard == 0
            if self.fault_step is not None and self.steps == self.fault_step:
                while self.hang:
                    time.sleep(3600)
                raise RuntimeError(f"injected fault at step {self.steps} ({FAULT_ENV})")
            reply = self.replies[request.shard]
            results = step_results(*task.step(self.request.actions[:n].to(task.device)))
            self.layouts[request.shard].pack(reply, results)
        elif request.command == Command.RESET:
            reply = self.replies[request.shard]
            mask = self.request.mask[:n].to(task.device) if request.masked else None
            episodes = self.request.episodes[:n] if request.episodes else None
            obs = task.reset(seed=request.seed, mask=mask, ended=request.ended, episodes=episodes)
            self.layouts[request.shard].pack(reply, reset_results(obs), self.reset_fields)
        elif request.command == Command.RENDER:
            w, h = request.render_size
            key = (request.shard, w, h)
            if key not in self.render_replies:
                self.render_replies[key] = render_reply(n, w, h, self.spec.comm_device)
            reply = self.render_replies[key]
            render_frames(reply, n, w, h).copy_(task.sim.render_viewer(w, h))
        else:
            raise ValueError(f"unexpected request {request}")
        if task.device.type == "cuda" and self.spec.comm_device.type == "cpu":
            torch.cuda.synchronize(task.device)
        mark_ok(reply, time.perf_counter_ns() - start)
        return reply


def serve(spec: WorkerSpec, group) -> None:
    """Answer the learner's requests until it sends ``CLOSE`` (or the connection drops)."""
    server = _Server(spec)
    reply = server.replies[0]
    try:
        server.build()
        mark_ok(reply, 0)
        group.send([reply], 0, 0).wait()  # READY
        while True:
            group.recv([server.request.buf], 0, 0).wait()
            request = server.request.unpack()
            if request.command == Command.CLOSE:
                for task in server.tasks:
                    task.close()
                return
            reply = server.handle(request)
            group.send([reply], 0, 0).wait()
    except Exception:
        try:
            write_error(reply, f"{traceback.format_exc()}(worker pid {os.getpid()})")
            group.send([reply], 0, 0).wait()
        finally:
            raise


#: What a worker imports before it can build a simulator; a forkserver imports it once for every worker.
WORKER_MODULES = ("torch", "mujoco", "dexgrasp_env.task", "dexgrasp_env.vector.worker")
#: ... and what a worker that renders or runs MuJoCo Warp imports besides (several seconds more).
WARP_MODULES = ("mujoco_warp", "dexgrasp_env.sim.warp_backend")


def start_context(method: str, spec: WorkerSpec) -> mp.context.BaseContext:
    """The ``multiprocessing`` context that starts the worker of ``spec`` (``PoolConfig.start_method``).

    ``auto`` forks a CPU worker from the forkserver and spawns a CUDA worker: a process forked after CUDA was
    initialised cannot use it, and although the server only imports modules that leave CUDA alone, a GPU
    worker's start is dominated by its kernels and device memory, and ``spawn`` is what NVIDIA's stack is tested
    with. The server imports :data:`WORKER_MODULES`, and :data:`WARP_MODULES` when the first worker it serves
    needs them (the list is fixed once the server runs; a later worker imports what is missing itself).
    """
    if method not in START_METHODS:
        raise ValueError(f"PoolConfig.start_method={method!r} is not one of {START_METHODS}")
    if method == "auto":
        on_cpu = torch.device(spec.device).type == "cpu"
        method = "forkserver" if on_cpu and "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        from dexgrasp_env.sim import resolve_backend

        warp = bool(spec.cfg.cameras_needed()) or resolve_backend(spec.cfg.backend, torch.device(spec.device)) == "warp"
        ctx.set_forkserver_preload(list(WORKER_MODULES + (WARP_MODULES if warp else ())))
    return ctx


def spawn_main(spec: WorkerSpec, host: str, port: int, prefix: str, environ: dict[str, str] | None = None) -> None:
    """Entry point of a worker process started by the pool; ``environ``: the learner's environment variables
    when it started this worker (a forkserver's child would otherwise see the server's, from its own start)."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    torch.set_num_threads(1)
    store = dist.TCPStore(host, port, is_master=False, timeout=datetime.timedelta(seconds=60))
    store.set(f"{prefix}/hello", str(os.getpid()))  # the learner waits for this before the rendezvous
    group = pair_group(store, prefix, 1, spec.backend, spec.device, IDLE_TIMEOUT)
    serve(spec, group)
    # closed cleanly: leave without the interpreter's teardown of torch, Warp and the process group, which
    # took 2-4 s per worker (a pool's close waited for it); an error above still exits through Python
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def torchrun_groups(world_size: int) -> list:
    """The learner-worker pair groups of a torchrun job, built in the same order on every rank."""
    return [dist.new_group([0, k], timeout=IDLE_TIMEOUT) for k in range(1, world_size)]


def serve_worker() -> None:
    """Serve as simulator worker ``rank - 1`` of a torchrun job until the learner closes the pool.

    Call on every rank above 0 after ``torch.distributed.init_process_group``; rank 0 makes the
    vector environment with ``launch="torchrun"``. See ``examples/torchrun_pool.py``.
    """
    if not dist.is_initialized():
        raise RuntimeError("serve_worker() needs torch.distributed.init_process_group() first (run under torchrun)")
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        raise RuntimeError("rank 0 is the learner: make the vector environment there with launch='torchrun'")
    groups = torchrun_groups(world)
    specs = [None]
    dist.broadcast_object_list(specs, src=0)
    spec: WorkerSpec = specs[0][rank - 1]
    serve(spec, groups[rank - 1])
