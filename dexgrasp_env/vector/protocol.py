"""The wire protocol between the learner and a simulator worker: requests and replies, packed and unpacked here.

A request is one fixed-size message: 8 int64 header words, the actions ``(max_envs, action_dim)``
float32, a reset mask ``(max_envs,)``. A reply is one fixed-size message too: 8 int64 header words
(status, compute nanoseconds, error length), then either a shard's results in the
:class:`~dexgrasp_env.vector.schema.Layout`, or a worker's traceback, or rendered frames. Both
sides build their buffers once from the config, so nothing about shapes travels at run time, and
no Python object is pickled on the hot path.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import torch

from dexgrasp_env.vector.schema import HEADER_BYTES

_WORDS = HEADER_BYTES // 8
STATUS_OK, STATUS_ERROR = 0, 1


class Command(enum.IntEnum):
    """What a request asks for. ``READY`` is the worker's first reply, once its simulators are built."""

    READY = 0
    STEP = 1
    RESET = 2
    RENDER = 3
    CLOSE = 4


@dataclass(frozen=True)
class Request:
    """One request to a worker.

    Attributes:
        command: What to do.
        shard: Which of the worker's shards (two when the pool pipelines).
        difficulty: The curriculum's current difficulty (every request carries it).
        seed: ``RESET``: restart the random streams from this seed, or keep them (``None``).
        masked: ``RESET``: reset only the environments of the request's mask.
        ended: ``RESET``: the reset ends episodes the learner has not seen end (a restarted worker):
            ``next_step`` environments report the boundary on their next step.
        render_size: ``RENDER``: frame width and height.
        episodes: ``RESET``: the request's episode counts set where each environment's random stream
            continues (a resumed run).
    """

    command: Command
    shard: int = 0
    difficulty: float = 1.0
    seed: int | None = None
    masked: bool = False
    ended: bool = False
    render_size: tuple[int, int] = (0, 0)
    episodes: bool = False


def _float_bits(x: float) -> int:
    """A float64 as the int64 with the same bits (to travel in an int64 header)."""
    return struct.unpack("<q", struct.pack("<d", float(x)))[0]


def _bits_float(i: int) -> float:
    return struct.unpack("<d", struct.pack("<q", int(i)))[0]


class RequestBuffer:
    """A preallocated request message: :meth:`pack` on the learner, :meth:`unpack` on the worker.

    Layout: header, actions ``(max_envs, action_dim)`` float32, episode counts ``(max_envs,)`` int64,
    reset mask ``(max_envs,)`` bool.
    """

    def __init__(self, max_envs: int, action_dim: int, device: torch.device | str = "cpu") -> None:
        self.max_envs, self.action_dim = max_envs, action_dim
        actions_at = HEADER_BYTES
        episodes_at = actions_at + -(-max_envs * action_dim * 4 // 8) * 8
        mask_at = episodes_at + max_envs * 8
        self.buf = torch.zeros(mask_at + -(-max_envs // 8) * 8, dtype=torch.uint8, device=device)
        self.header = self.buf[:actions_at].view(torch.int64)
        self.actions = self.buf[actions_at : actions_at + max_envs * action_dim * 4].view(torch.float32).view(
            max_envs, action_dim)
        self.episodes = self.buf[episodes_at:mask_at].view(torch.int64)
        self.mask = self.buf[mask_at : mask_at + max_envs].view(torch.bool)

    def pack(self, request: Request, actions: torch.Tensor | None = None, mask: torch.Tensor | None = None,
             episodes: torch.Tensor | None = None) -> None:
        """Write ``request`` (and the actions, reset mask or episode counts of its environments)."""
        r = request
        flags = int(r.seed is not None) | int(r.masked) << 1 | int(r.ended) << 2 | int(r.episodes) << 3
        words = [int(r.command), r.shard, flags, 0 if r.seed is None else r.seed, 0, 0,
                 _float_bits(r.difficulty), (r.render_size[0] << 32) | r.render_size[1]]
        self.header.copy_(torch.tensor(words, dtype=torch.int64))
        if actions is not None:
            self.actions[: actions.shape[0]].copy_(actions)
        if mask is not None:
            self.mask[: mask.shape[0]].copy_(mask)
        if episodes is not None:
            self.episodes[: episodes.shape[0]].copy_(episodes)

    def unpack(self) -> Request:
        """The request in the buffer (its actions, mask and episodes are the attributes of the same names)."""
        command, shard, flags, seed, _, _, difficulty, size = self.header.tolist()
        return Request(Command(command), shard, _bits_float(difficulty), seed if flags & 1 else None, bool(flags & 2),
                       bool(flags & 4), (size >> 32, size & 0xFFFFFFFF), bool(flags & 8))


# ------------------------------------------------------------------------------------------------
# replies
# ------------------------------------------------------------------------------------------------
def reply_header(buf: torch.Tensor) -> torch.Tensor:
    """The 8 int64 header words of a reply buffer (a view)."""
    return buf[:HEADER_BYTES].view(torch.int64)


def mark_ok(buf: torch.Tensor, compute_ns: int) -> None:
    """Mark a reply as results, computed in ``compute_ns`` nanoseconds."""
    h = reply_header(buf)
    h[0], h[1] = STATUS_OK, compute_ns


def compute_seconds(buf: torch.Tensor) -> float:
    """The worker's compute time of the reply in ``buf``."""
    return int(reply_header(buf)[1]) * 1e-9


def write_error(buf: torch.Tensor, text: str) -> None:
    """Mark ``buf`` as a failure and store ``text`` (truncated to fit) after the header."""
    data = text.encode("utf-8", errors="replace")[: buf.numel() - HEADER_BYTES - 8]
    h = reply_header(buf)
    h[0], h[2] = STATUS_ERROR, len(data)
    buf[HEADER_BYTES : HEADER_BYTES + len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(buf.device)


def read_error(buf: torch.Tensor) -> str | None:
    """The failure text of a reply, or ``None`` if it holds results."""
    h = reply_header(buf).cpu()
    if int(h[0]) != STATUS_ERROR:
        return None
    n = int(h[2])
    return bytes(buf[HEADER_BYTES : HEADER_BYTES + n].cpu().numpy()).decode("utf-8", errors="replace")


def render_reply(num_envs: int, width: int, height: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A reply buffer for ``num_envs`` frames of ``width`` x ``height`` RGB."""
    return torch.zeros(HEADER_BYTES + num_envs * height * width * 3, dtype=torch.uint8, device=device)


def render_frames(buf: torch.Tensor, num_envs: int, width: int, height: int) -> torch.Tensor:
    """The ``(num_envs, height, width, 3)`` uint8 frames of a render reply (a view)."""
    return buf[HEADER_BYTES:].view(num_envs, height, width, 3)
