"""Device strings: parsing and availability checks shared by the simulator and the pool."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """Parse and check a device: ``"cpu"``, ``"cuda"`` or ``"cuda:<k>"``.

    Args:
        device: The device string (or ``torch.device``).

    Returns:
        The ``torch.device``, with an explicit index for CUDA.

    Raises:
        ValueError: The string is not a device, is of an unsupported type, or is not available here.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:<index>'") from exc
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise ValueError(f"unsupported device {device!r} (type {dev.type!r}); expected 'cpu', 'cuda' or 'cuda:<index>'")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} is not available: torch.cuda.is_available() is False on this machine")
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} is not available: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return torch.device("cuda", index)


def warp_device_name(device: torch.device) -> str:
    """The Warp name of a resolved torch device (``"cpu"`` or ``"cuda:<k>"``)."""
    return "cpu" if device.type == "cpu" else f"cuda:{device.index}"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, as oneDNN reports it).

    Why it matters: bf16 autocast makes the image encoders' convolutions 1.5-2x faster on such a CPU, and about
    6x *slower* on one without (a 2-core AMD EPYC with AVX2 only: 2.0 ms against 0.33 ms of learner time per
    sample, 2026-12-07), where every bf16 operation is emulated."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(probe is not None and probe())
