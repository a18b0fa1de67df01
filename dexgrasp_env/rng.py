"""Counter-based random numbers for batched environments.

Every random value an environment uses is a hash of ``(seed, environment index, episode,
step, stream, slot)``. Environment ``i``'s randomness therefore depends on nothing but the seed,
``i`` and its own history, however the environments are split across devices and workers, and
the same numbers come out on CPU and GPU. The hash is a 32-bit avalanche mix (``lowbias32``)
computed in int64 torch arithmetic that never overflows.
"""

from __future__ import annotations

import torch

_MASK = 0xFFFFFFFF


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for ``0 <= x < 2**32`` without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash_keys(*keys: torch.Tensor | int) -> torch.Tensor:
    """Hash a sequence of integer keys (tensors broadcast together) to 32-bit values in int64."""
    h = None
    for key in keys:
        if isinstance(key, torch.Tensor) or -(2**63) <= key < 2**63:
            k = torch.as_tensor(key).to(torch.int64)
            words = [k & _MASK, (k >> 32) & _MASK]
        else:  # a larger Python integer (Gymnasium takes any non-negative seed): every 32-bit word of it
            k, words = int(key), []
            while k > 0:
                words.append(torch.tensor(k & _MASK, dtype=torch.int64))
                k >>= 32
        for word in words:
            h = _mix(word if h is None else (h ^ word) & _MASK)
    return h


def fold(key: torch.Tensor, counter: torch.Tensor) -> torch.Tensor:
    """A hashed key with one more counter below ``2**32`` mixed in (one mix, not :func:`hash_keys`' two)."""
    return _mix((key ^ (counter & _MASK)) & _MASK)


def uniform(key: torch.Tensor, n: int, offset: int = 0) -> torch.Tensor:
    """``n`` uniform floats in ``[0, 1)`` per row of hashed keys.

    Args:
        key: ``(M,)`` int64 keys from :func:`hash_keys`.
        n: values per row.
        offset: first slot: draws of the same key at different offsets are independent.

    Returns:
        ``(M, n)`` float32.
    """
    slots = torch.arange(offset, offset + n, device=key.device, dtype=torch.int64)
    h = _mix((key.unsqueeze(-1) ^ _mix(slots + 0x9E3779B9)) & _MASK)
    return (h >> 8).to(torch.float32) * (1.0 / (1 << 24))


def normal(key: torch.Tensor, n: int, offset: int = 0) -> torch.Tensor:
    """``n`` standard normal floats per row (Box-Muller on :func:`uniform`; uses slots ``offset .. offset + 2n``)."""
    u = uniform(key, 2 * n, offset)
    u1, u2 = u[:, :n], u[:, n:]
    return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * torch.pi * u2)
