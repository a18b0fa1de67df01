"""The depth camera's model (``dexgrasp_env.depth_noise``) on synthetic images: each part does what it says."""

import dataclasses

import pytest
import torch

from dexgrasp_env import rng
from dexgrasp_env.config import RandomizationConfig
from dexgrasp_env.depth_noise import STICK_LENGTH, corrupt_depth

RANGE = (0.3, 1.6)
NONE = RandomizationConfig.none()


def _keys(n: int, step: int = 0) -> torch.Tensor:
    return rng.fold(rng.hash_keys(7, torch.arange(n)), torch.full((n,), step))


def _flat(depth: float, n: int = 8, h: int = 48, w: int = 64) -> torch.Tensor:
    return torch.full((n, h, w), depth)


def test_off_or_at_difficulty_zero_it_is_the_clean_image():
    raw = _flat(1.0)
    raw[:, :5] = 0.0  # misses
    clean = corrupt_depth(raw, RANGE, NONE, 1.0, None)
    assert (clean[:, :5] == RANGE[1]).all() and (clean[:, 5:] == 1.0).all()
    full = RandomizationConfig.full()
    assert torch.equal(corrupt_depth(raw, RANGE, full, 0.0, _keys(8)), clean)
    assert not torch.equal(corrupt_depth(raw, RANGE, full, 1.0, _keys(8)), clean)


def test_disparity_noise_grows_with_the_square_of_distance():
    rc = dataclasses.replace(NONE, depth_disparity_noise=0.004)
    near = corrupt_depth(_flat(0.5), RANGE, rc, 1.0, _keys(8)) - 0.5
    far = corrupt_depth(_flat(1.0), RANGE, rc, 1.0, _keys(8)) - 1.0
    assert far.std().item() == pytest.approx(0.004, rel=0.05)
    assert far.std().item() / near.std().item() == pytest.approx(4.0, rel=0.08)


def test_dropout_random_values_and_sticks_at_their_rates():
    rc = dataclasses.replace(NONE, depth_dropout=0.05)
    out = corrupt_depth(_flat(1.0, n=32), RANGE, rc, 1.0, _keys(32))
    assert (out == RANGE[1]).float().mean().item() == pytest.approx(0.05, rel=0.1)
    rc = dataclasses.replace(NONE, depth_random_value=0.05)
    out = corrupt_depth(_flat(1.0, n=32), RANGE, rc, 1.0, _keys(32))
    stray = out != 1.0
    assert stray.float().mean().item() == pytest.approx(0.05, rel=0.1)
    assert out[stray].std() > 0.3  # uniform over the range
    rc = dataclasses.replace(NONE, depth_sticks=0.005)
    out = corrupt_depth(_flat(1.0, n=32), RANGE, rc, 1.0, _keys(32))
    runs = (out != 1.0).float()
    assert runs.mean().item() == pytest.approx(0.005 * STICK_LENGTH, rel=0.2)
    # a stick is a horizontal run of one value: its pixel to the right mostly reads the same
    left, right = out[..., :-1], out[..., 1:]
    inside = (left != 1.0) & (right != 1.0)
    assert (left[inside] == right[inside]).float().mean() > 0.7


def test_edge_noise_makes_edges_ragged_and_leaves_flat_regions():
    raw = _flat(1.2)
    raw[:, :, 32:] = 0.8  # a vertical step edge at column 32
    rc = dataclasses.replace(NONE, depth_edge_noise_px=0.5)
    out = corrupt_depth(raw, RANGE, rc, 1.0, _keys(8))
    assert torch.equal(out[:, :, :30], raw[:, :, :30]) and torch.equal(out[:, :, 34:], raw[:, :, 34:])
    changed = (out != raw)[:, :, 30:34].float().mean().item()
    assert 0.05 < changed < 0.5


def test_each_world_draws_its_own_noise_whatever_the_batch():
    rc = RandomizationConfig.full()
    raw = 0.6 + 0.8 * torch.rand(6, 16, 16, generator=torch.Generator().manual_seed(0))
    keys = _keys(6)
    whole = corrupt_depth(raw, RANGE, rc, 1.0, keys)
    part = corrupt_depth(raw[3:5], RANGE, rc, 1.0, keys[3:5])
    assert torch.equal(whole[3:5], part)
    assert not torch.equal(whole[0], corrupt_depth(raw[:1], RANGE, rc, 1.0, _keys(1, step=1))[0])
    # a second depth sensor (stream 1) draws other numbers
    assert not torch.equal(whole, corrupt_depth(raw, RANGE, rc, 1.0, keys, stream=1))
    assert whole.min() >= RANGE[0] and whole.max() <= RANGE[1]


def test_each_world_at_its_own_difficulty():
    """A ``(N,)`` difficulty (``CurriculumConfig.spread="uniform"``): each world's image is the one it would get at
    that difficulty alone, every part of the model included."""
    raw = _flat(1.0)
    raw[:, :, 20:30] = 0.7  # an edge for the edge noise
    full = RandomizationConfig.full()
    levels = torch.linspace(0.0, 1.0, 8)
    mixed = corrupt_depth(raw, RANGE, full, levels, _keys(8))
    for i, level in enumerate(levels.tolist()):
        assert torch.allclose(mixed[i], corrupt_depth(raw, RANGE, full, level, _keys(8))[i], rtol=0, atol=1e-6), i
    assert torch.equal(mixed[0], corrupt_depth(raw, RANGE, NONE, 1.0, None)[0])  # difficulty 0: clean
