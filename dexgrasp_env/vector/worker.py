"""Simulator workers: one process per simulation device, serving the learner over torch.distributed.

A worker owns one or two shards (two when the pool pipelines: halves of its environments that
step alternately). It talks to the learner over a two-member process group: rank 0 the learner,
rank 1 the worker. Each request is one fixed-layout message (:class:`CommandLayout`), each reply
one fixed-layout message (:class:`~dexgrasp_env.vector.layout.Layout`); when the worker raises,
its reply carries the traceback instead and the worker exits.

Workers are started either by the pool itself (``multiprocessing`` spawn, a ``TCPStore`` hosted
by the learner) or by ``torchrun``, where every rank above 0 calls :func:`serve_worker`.
"""

from __future__ import annotations

import datetime
import os
import struct
import time
import traceback
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dexgrasp_env.config import EnvConfig

FAULT_ENV = "DEXGRASP_INJECT_FAULT"
"""Testing hook: ``"<worker index>:<step>"`` makes that worker raise at that step of its first shard."""

CMD_STEP, CMD_RESET, CMD_RENDER, CMD_CLOSE, CMD_READY = range(5)
"""Requests; ``CMD_READY`` is the worker's first reply, once its simulators are built."""
_HEADER_WORDS = 8
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


class CommandLayout:
    """A request: 8 int64 header words, then actions ``(n, 23)`` float32, then a reset mask ``(n,)``.

    Header words: command, shard, has-seed, seed, has-mask, difficulty (float64 bits), and two
    arguments (render width and height).
    """

    def __init__(self, max_envs: int) -> None:
        self.max_envs = max_envs
        self.actions_at = _HEADER_WORDS * 8
        self.mask_at = self.actions_at + max_envs * 23 * 4
        self.nbytes = self.mask_at + -(-max_envs // 8) * 8

    def empty(self, device) -> torch.Tensor:
        return torch.zeros(self.nbytes, dtype=torch.uint8, device=device)

    def views(self, buf: torch.Tensor):
        header = buf[: self.actions_at].view(torch.int64)
        actions = buf[self.actions_at : self.mask_at].view(torch.float32).view(self.max_envs, 23)
        mask = buf[self.mask_at : self.mask_at + self.max_envs].view(torch.bool)
        return header, actions, mask


def float_bits(x: float) -> int:
    """A float64 as the int64 with the same bits (to travel in an int64 header)."""
    return struct.unpack("<q", struct.pack("<d", float(x)))[0]


def bits_float(i: int) -> float:
    return struct.unpack("<d", struct.pack("<q", int(i)))[0]


def pair_group(store: dist.Store, prefix: str, rank: int, backend: str, device: str, timeout: datetime.timedelta):
    """A two-member process group (learner rank 0, worker rank 1) on its own store prefix."""
    prefixed = dist.PrefixStore(prefix, store)
    if backend == "nccl":
        opts = dist.ProcessGroupNCCL.Options()
        opts._timeout = timeout
        torch.cuda.set_device(torch.device(device))
        return dist.ProcessGroupNCCL(prefixed, rank, 2, opts)
    return dist.ProcessGroupGloo(prefixed, rank, 2, timeout)


def _injected_fault_step(index: int) -> int | None:
    value = os.environ.get(FAULT_ENV)
    if not value:
        return None
    worker, step = value.split(":")
    return int(step) if int(worker) == index else None


def serve(spec: WorkerSpec, group) -> None:
    """Answer the learner's requests until it sends ``CMD_CLOSE`` (or the connection drops)."""
    from dexgrasp_env.task import GraspTask
    from dexgrasp_env.vector.layout import Layout, header, result_fields, step_results, write_error

    comm = spec.comm_device
    # every reply buffer exists before anything can fail, so a failure reply has the size the
    # learner expects
    layouts = [Layout(result_fields(spec.cfg, spec.autoreset_mode), s.num_envs) for s in spec.shards]
    bufs = [layout.empty(comm) for layout in layouts]
    cmd_layout = CommandLayout(max(s.num_envs for s in spec.shards))
    cmd_buf = cmd_layout.empty(comm)
    cmd_header, cmd_actions, cmd_mask = cmd_layout.views(cmd_buf)
    render_bufs: dict = {}
    reply = bufs[0]
    fault_step, steps = _injected_fault_step(spec.index), 0
    try:
        tasks = [GraspTask(spec.cfg, shard.num_envs, spec.device, env_offset=shard.offset,
                           autoreset_mode=spec.autoreset_mode) for shard in spec.shards]
        for task in tasks:
            task.warmup()
        header(reply)[0] = 0
        group.send([reply], 0, 0).wait()  # CMD_READY
        while True:
            group.recv([cmd_buf], 0, 0).wait()
            h = cmd_header.tolist()
            command, s = h[0], h[1]
            if command == CMD_CLOSE:
                return
            task = tasks[s]
            n = task.num_envs
            task.difficulty = bits_float(h[5])
            start = time.perf_counter_ns()
            if command == CMD_RENDER:
                key = (s, h[6], h[7])
                if key not in render_bufs:
                    render_bufs[key] = torch.zeros(64 + n * h[6] * h[7] * 3, dtype=torch.uint8, device=comm)
                reply = render_bufs[key]
                reply[64:].copy_(task.sim.render_viewer(h[6], h[7]).reshape(-1))
            else:
                reply = bufs[s]
                if command == CMD_STEP:
                    steps += s == 0
                    if fault_step is not None and steps == fault_step:
                        raise RuntimeError(f"injected fault at step {steps} ({FAULT_ENV})")
                    results = step_results(*task.step(cmd_actions[:n].to(task.device)))
                elif command == CMD_RESET:
                    mask = cmd_mask[:n].to(task.device) if h[4] else None
                    results = step_results(task.reset(seed=h[3] if h[2] else None, mask=mask), None, None, None, {})
                else:
                    raise ValueError(f"unknown command {command}")
                layouts[s].pack(reply, results)
            if task.device.type == "cuda" and comm.type == "cpu":
                torch.cuda.synchronize(task.device)
            header(reply)[0] = 0
            header(reply)[1] = time.perf_counter_ns() - start
            group.send([reply], 0, 0).wait()
    except Exception:
        try:
            write_error(reply, f"{traceback.format_exc()}(worker pid {os.getpid()})")
            group.send([reply], 0, 0).wait()
        finally:
            raise


def spawn_main(spec: WorkerSpec, host: str, port: int, prefix: str) -> None:
    """Entry point of a worker process started by the pool."""
    torch.set_num_threads(1)
    store = dist.TCPStore(host, port, is_master=False, timeout=datetime.timedelta(seconds=60))
    store.set(f"{prefix}/hello", str(os.getpid()))  # the learner waits for this before the rendezvous
    group = pair_group(store, prefix, 1, spec.backend, spec.device, IDLE_TIMEOUT)
    serve(spec, group)


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
