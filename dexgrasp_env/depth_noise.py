"""A depth camera's errors, applied to the ray tracer's perfect depth (DextrAH's kind of model).

Why: a depth policy trained on perfect images collapses at the first sign of a real sensor (0.5% dropped
pixels, or 2 mm of noise, took ``depth-scratch`` from 0.88 to 0.00-0.20). A real depth camera at 1 m has
noise of several millimetres that grows with distance, ragged object edges, holes, and stray returns.
DextrAH's depth model (``dextrah_kuka_allegro_env_cfg.py``) has dropout and random values (p 0.0125/4
each), "sticks" (p 0.001/4), correlated noise (sigma_s 1/2, sigma_d 1/6), Gaussian noise and a range clip.
Each part here is a field of :class:`~dexgrasp_env.config.RandomizationConfig` (``None``: off), scaled by
the curriculum's difficulty, in this order:

1. **edge noise** (``depth_edge_noise_px``): every pixel reads the depth of a pixel displaced by a Gaussian
   of this many pixels (rounded), so object edges come out ragged, as in the disparity-shift model behind
   DextrAH's correlated noise (sigma_s);
2. **distance noise** (``depth_disparity_noise``): Gaussian noise of this standard deviation (m) at 1 m,
   growing with the square of the distance (a stereo depth camera's disparity error, sigma_d);
3. **Gaussian noise** (``depth_noise_std``): the same at every distance;
4. **random values** (``depth_random_value``): the probability that a pixel reads a uniform depth in range;
5. **sticks** (``depth_sticks``): the probability that a pixel starts a horizontal run of
   :data:`STICK_LENGTH` pixels reading one uniform depth (stray returns along a scan line);
6. **dropout** (``depth_dropout``): the probability that a pixel returns nothing (it reads the far end);
7. **range clip**: to the sensor's ``depth_range``; misses read the far end.

Noise perturbs hits only: a miss has no distance to perturb. Every number comes from the environment's
counter-based stream, so an environment's images do not depend on how environments are split.
"""

from __future__ import annotations

import torch

from dexgrasp_env import rng
from dexgrasp_env.randomization import per_world

STICK_LENGTH = 4
"""Pixels in a stick (a horizontal run reading one stray depth)."""
PARTS = ("edge", "disparity", "random_value", "random_depth", "stick", "stick_depth")
"""The noise parts added on 2026-12-07, each with its own slots of the random stream."""
SLOT_BASE, SLOT_STRIDE = 1 << 28, 1 << 23
"""Part ``p`` of depth sensor ``s`` draws from slot ``SLOT_BASE + (4 p + s) SLOT_STRIDE`` on (room for two normals
per pixel of a 320x240 image, and for four depth sensors), clear of the Gaussian noise's and the dropout's
slots, which stay those of the model before 2026-12-07 (the same images for the same seed)."""
_LEGACY_NOISE_SLOT, _LEGACY_DROPOUT_SLOT, _LEGACY_STREAM = 1 << 24, 1 << 25, 1 << 26


def _slot(part: str, stream: int) -> int:
    return SLOT_BASE + (4 * PARTS.index(part) + stream) * SLOT_STRIDE


def corrupt_depth(raw: torch.Tensor, depth_range: tuple[float, float], rc, difficulty: float | torch.Tensor,
                  key: torch.Tensor | None, stream: int = 0) -> torch.Tensor:
    """The sensor's image of the ray tracer's ``raw`` planar depth ``(N, H, W)`` (0 where a ray hit nothing).

    Args:
        raw: Perfect planar depth (m).
        depth_range: The sensor's ``(near, far)`` (m).
        rc: The :class:`~dexgrasp_env.config.RandomizationConfig` (its ``depth_*`` fields).
        difficulty: The curriculum's difficulty (every part scales with it): one, or ``(N,)`` per world.
        key: ``(N,)`` random keys of the current step of every environment (``None`` when no part is on).
        stream: Which depth sensor this is (each draws its own numbers).

    Returns:
        Depth in ``[near, far]`` (m).
    """
    near, far = depth_range
    n, h, w = raw.shape
    hit = raw > 0
    depth = torch.where(hit, raw, torch.full_like(raw, far))
    if key is None or (not isinstance(difficulty, torch.Tensor) and difficulty <= 0):
        return depth.clamp(near, far)

    whole = difficulty  # one, or (N,): the edge noise scales (N, 2, H, W) shifts, every other part (N, H, W) images
    difficulty = per_world(difficulty, 3)

    def uniform(part: str, count: int = 1) -> torch.Tensor:
        return rng.uniform(key, count * h * w, _slot(part, stream)).view(n, count, h, w).squeeze(1)

    def normal(part: str, count: int = 1) -> torch.Tensor:
        return rng.normal(key, count * h * w, _slot(part, stream)).view(n, count, h, w).squeeze(1)

    if rc.depth_edge_noise_px is not None:
        shift = (normal("edge", 2) * (rc.depth_edge_noise_px * per_world(whole, 4))).round().long()
        rows = (torch.arange(h, device=raw.device).view(1, h, 1) + shift[:, 0]).clamp(0, h - 1)
        cols = (torch.arange(w, device=raw.device).view(1, 1, w) + shift[:, 1]).clamp(0, w - 1)
        flat = rows * w + cols
        depth = depth.view(n, -1).gather(1, flat.view(n, -1)).view(n, h, w)
        hit = hit.view(n, -1).gather(1, flat.view(n, -1)).view(n, h, w)
    if rc.depth_disparity_noise is not None:
        depth = depth + (normal("disparity") * (rc.depth_disparity_noise * difficulty) * depth.square()).masked_fill(
            ~hit, 0.0)
    if rc.depth_noise_std is not None:
        noise = rng.normal(key, h * w, _LEGACY_NOISE_SLOT + stream * _LEGACY_STREAM).view(n, h, w)
        depth = depth + (noise * (rc.depth_noise_std * difficulty)).masked_fill(~hit, 0.0)
    if rc.depth_random_value is not None:
        stray = uniform("random_value") < rc.depth_random_value * difficulty
        depth = torch.where(stray, near + (far - near) * uniform("random_depth"), depth)
    if rc.depth_sticks is not None:
        start = uniform("stick") < rc.depth_sticks * difficulty
        value = near + (far - near) * uniform("stick_depth")
        for k in range(STICK_LENGTH):  # later starts overwrite: a run reads its own start's value
            s = torch.nn.functional.pad(start, (k, 0))[..., :w]
            v = torch.nn.functional.pad(value, (k, 0))[..., :w]
            depth = torch.where(s, v, depth)
    if rc.depth_dropout is not None:
        drop = rng.uniform(key, h * w, _LEGACY_DROPOUT_SLOT + stream * _LEGACY_STREAM).view(n, h, w) < (
            rc.depth_dropout * difficulty)
        depth = depth.masked_fill(drop, far)
    return depth.clamp(near, far)

