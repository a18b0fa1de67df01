"""The fixed byte layout of one shard's step results, shared by workers and the learner.

A worker packs everything a step produces (observations, rewards, flags, infos) into one
preallocated byte buffer and sends it as one message; the learner receives into a buffer of the
same layout and reads typed views out of it. Both sides derive the layout from the task config
and the autoreset mode, so nothing about shapes travels at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dexgrasp_env.config import REWARD_TERMS, EnvConfig
from dexgrasp_env.task import key_spaces

HEADER_BYTES = 64
"""Every buffer starts with 8 int64: status, compute nanoseconds, and spare words."""
STATUS_OK, STATUS_ERROR = 0, 1
MIN_BUFFER_BYTES = 1 << 16
"""Room for a worker's traceback when a step fails."""
_ALIGN = 8


def _numpy_dtype_to_torch(dtype) -> torch.dtype:
    return {"float32": torch.float32, "uint8": torch.uint8}[str(dtype)]


def result_fields(cfg: EnvConfig, autoreset_mode: str) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """The flat ``(path, per-env shape, dtype)`` list of one step's results.

    Paths join nested keys with ``.``: ``obs.depth``, ``reward``, ``info.episode.r``,
    ``info.reward/lift``...
    """
    obs = [(f"obs.{k}", tuple(s.shape), _numpy_dtype_to_torch(s.dtype)) for k, s in key_spaces(cfg).items()]
    fields = obs + [
        ("reward", (), torch.float32),
        ("terminated", (), torch.bool),
        ("truncated", (), torch.bool),
        ("info.success", (), torch.bool),
        ("info.diverged", (), torch.bool),
        ("info._episode_stats", (), torch.bool),
        ("info.episode_stats.r", (), torch.float32),
        ("info.episode_stats.l", (), torch.int64),
        ("info.episode_stats.success", (), torch.bool),
    ] + [(f"info.reward/{t}", (), torch.float32) for t in REWARD_TERMS]
    if autoreset_mode == "same_step":
        fields += [(f"info.final_obs.{k[4:]}", shape, dt) for k, shape, dt in obs]
        fields += [("info._final_obs", (), torch.bool)]
    return fields


def flatten(tree: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested dicts to one level with ``.``-joined keys."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def unflatten(flat: dict) -> dict:
    """Inverse of :func:`flatten`."""
    out: dict = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def step_results(obs: dict, reward, terminated, truncated, info: dict) -> dict[str, torch.Tensor]:
    """A task step's outputs as the flat dict that :class:`Layout` packs."""
    return flatten({"obs": obs, "reward": reward, "terminated": terminated, "truncated": truncated, "info": info})


@dataclass
class Layout:
    """Byte offsets of every field of a buffer holding ``num_envs`` environments' results."""

    fields: list[tuple[str, tuple[int, ...], torch.dtype]]
    num_envs: int

    def __post_init__(self) -> None:
        self.offsets: dict[str, tuple[int, int, tuple[int, ...], torch.dtype]] = {}
        pos = HEADER_BYTES
        for path, shape, dtype in self.fields:
            count = self.num_envs
            for s in shape:
                count *= s
            nbytes = count * torch.empty((), dtype=dtype).element_size()
            self.offsets[path] = (pos, nbytes, shape, dtype)
            pos += -(-nbytes // _ALIGN) * _ALIGN
        self.nbytes = max(pos, MIN_BUFFER_BYTES)

    def empty(self, device: torch.device | str = "cpu", pin: bool = False) -> torch.Tensor:
        """A zeroed buffer of this layout."""
        return torch.zeros(self.nbytes, dtype=torch.uint8, device=device, pin_memory=pin)

    def views(self, buf: torch.Tensor) -> dict[str, torch.Tensor]:
        """Typed views ``(num_envs, *shape)`` into ``buf`` by path (writing a view writes ``buf``)."""
        out = {}
        for path, (pos, nbytes, shape, dtype) in self.offsets.items():
            out[path] = buf[pos : pos + nbytes].view(dtype).view(self.num_envs, *shape)
        return out

    def pack(self, buf: torch.Tensor, results: dict[str, torch.Tensor | None]) -> None:
        """Copy ``results`` (flat, as from :func:`step_results`) into ``buf``; absent fields read 0."""
        for path, view in self.views(buf).items():
            value = results.get(path)
            if value is None:
                view.zero_()
            else:
                view.copy_(value)


def header(buf: torch.Tensor) -> torch.Tensor:
    """The 8 int64 header words of a buffer (a view)."""
    return buf[:HEADER_BYTES].view(torch.int64)


def write_error(buf: torch.Tensor, text: str) -> None:
    """Mark ``buf`` as a failure and store ``text`` (truncated to fit) after the header."""
    data = text.encode("utf-8", errors="replace")[: buf.numel() - HEADER_BYTES - 8]
    h = header(buf)
    h[0], h[2] = STATUS_ERROR, len(data)
    buf[HEADER_BYTES : HEADER_BYTES + len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(buf.device)


def read_error(buf: torch.Tensor) -> str | None:
    """The failure text of a buffer, or ``None`` if it holds results."""
    h = header(buf).cpu()
    if int(h[0]) != STATUS_ERROR:
        return None
    n = int(h[2])
    return bytes(buf[HEADER_BYTES : HEADER_BYTES + n].cpu().numpy()).decode("utf-8", errors="replace")
