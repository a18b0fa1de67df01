"""Does bf16 make the image encoders faster on this CPU? The learner's convolutions, float32 against bf16.

Why: ``--bf16`` (``algos/ppo.py``, ``algos/dagger.py``) runs the image encoders under bf16 autocast. On a CPU
with AVX512-BF16 or AMX their convolutions run 1.5-2x faster; on one without, every bf16 operation is emulated
and the learner runs several times slower, so the scripts keep such a CPU in float32
(:func:`dexgrasp_env.models.bf16_images`). This times one forward and backward pass of the policy's encoder
(``depth-scratch``'s 32x32 masked depth and the proprioception) on a minibatch in both precisions, forcing
bf16 whatever the CPU, alternating the two so that both see the same machine.

    python benchmarks/bf16_cpu.py --out benchmarks/results/bf16_cpu-2core_<date>.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine  # noqa: E402

from dexgrasp_env.config import CameraConfig, make_env_config  # noqa: E402
from dexgrasp_env.models import ObsEncoder  # noqa: E402
from dexgrasp_env.spaces import key_spaces  # noqa: E402


def step_s(encoder: ObsEncoder, obs: dict, bf16: bool) -> float:
    """Seconds of one forward and backward pass over ``obs``."""
    encoder.image_bf16 = bf16
    start = time.perf_counter()
    encoder(obs).square().mean().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32, help="depth image width and height")
    parser.add_argument("--batch", type=int, default=1024, help="samples per pass (one of PPO's minibatches)")
    parser.add_argument("--repeats", type=int, default=10, help="timed passes of each precision, alternating")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    cfg = make_env_config("depth", camera=CameraConfig(width=args.size, height=args.size))
    spaces = key_spaces(cfg)
    encoder = ObsEncoder(spaces, ("depth", "proprio"), depth_encoding="masked")
    gen = torch.Generator().manual_seed(0)
    obs = {k: torch.rand((args.batch, *spaces[k].shape), generator=gen) for k in ("depth", "proprio")}
    encoder.update_norms(obs)
    times = {"float32": [], "bf16": []}
    for bf16 in (False, True):  # warm-up: oneDNN picks its kernels on the first pass
        step_s(encoder, obs, bf16)
    for _ in range(args.repeats):
        for name, bf16 in (("float32", False), ("bf16", True)):
            times[name].append(step_s(encoder, obs, bf16))
    us = {k: round(1e6 * statistics.median(v) / args.batch, 2) for k, v in times.items()}
    emit({"machine": machine(), "image": [args.size, args.size], "batch": args.batch,
          "repeats": args.repeats, "us_per_sample_forward_backward": us,
          "bf16_over_float32": round(us["bf16"] / us["float32"], 2)}, args.out)


if __name__ == "__main__":
    main()
