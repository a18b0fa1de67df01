"""Network pieces shared by the training scripts (``algos/ppo.py``, ``algos/dagger.py``) and the shipped policies.

One copy of each: running observation statistics (merged across data-parallel ranks), the Isaac Lab
convolutional trunk, the stereo encoder, the observation encoder that fuses vector and image keys,
and the export of an actor to a ``torch.export`` program that loads without this package's code.
"""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from dexgrasp_env.devices import cpu_has_bf16
from dexgrasp_env.sensors import RGB_KEYS, STEREO_KEYS


class RunningMeanStd(nn.Module):
    """Running mean and variance (a module, so they travel with the state dict).

    Data parallel (``RunningMeanStd.data_parallel = True`` under ``torch.distributed``): every update merges
    the statistics of all ranks, so the replicas normalise identically. Off by default: in a disaggregated
    torchrun job the other ranks are simulator workers, which never join such a collective.

    Args:
        shape: Shape of one sample (``()`` for a scalar, ``(1, H, W)`` for a depth image: per pixel).
        eps: Initial count (a prior weight of the initial mean 0 and variance 1).
        std_floor: Added to the standard deviation before dividing. Depth uses it: a pixel that
            always sees the table has a standard deviation near zero, and dividing by that would
            turn millimetres of sensor noise into full-scale features.
    """

    data_parallel: bool = False
    """Merge the statistics of every rank at each update (set by ``ppo.py --layout data-parallel``)."""

    def __init__(self, shape=(), eps: float = 1e-4, std_floor: float = 0.0):
        super().__init__()
        self.std_floor = float(std_floor)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(eps))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, *self.mean.shape).float()
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        if self.data_parallel and dist.is_initialized() and dist.get_world_size() > 1:
            stats = torch.cat([batch_mean.flatten(), (batch_var + batch_mean**2).flatten()])
            dist.all_reduce(stats)
            stats /= dist.get_world_size()
            batch_mean = stats[: batch_mean.numel()].view_as(batch_mean)
            batch_var = stats[batch_mean.numel():].view_as(batch_var) - batch_mean**2
            n *= dist.get_world_size()
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / (torch.sqrt(self.var + 1e-8) + self.std_floor)).clamp(-5.0, 5.0)


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights, constant bias (CleanRL's initialisation)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(sizes, out: int | None = None, out_std: float = 1.0) -> nn.Sequential:
    """Linear + ELU layers of the given widths, and optionally a final linear layer to ``out``."""
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [layer_init(nn.Linear(a, b)), nn.ELU()]
    if out is not None:
        layers.append(layer_init(nn.Linear(sizes[-1], out), std=out_std))
    return nn.Sequential(*layers)


def conv_trunk(channels: int, memory_format: torch.memory_format = torch.channels_last) -> nn.Sequential:
    """Conv 16/32/64 (kernel 3) with max-pooling (Isaac Lab's CNN).

    The first convolution has stride 2: at full resolution its activations would dominate the
    learner's memory (16 MB per 160x120 sample for backward, against 4 MB with the stride).

    Weights and inputs are channels-last by default: oneDNN's convolutions with so few channels run
    about 2x faster forward and backward on CPU in that layout than in NCHW (a 48x48 encoder on 1,024
    samples, 2 cores), which makes PPO's whole learner phase 1.3x faster (``benchmarks/throughput.py
    --ppo``, which also runs ``torch.contiguous_format``, the layout before 2026-12-01); the values are
    the same.
    """
    return nn.Sequential(nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2)).to(memory_format=memory_format)


class ImageEncoder(nn.Module):
    """One image key (depth, or one colour image) through the trunk and a linear projection."""

    def __init__(self, shape, out: int = 256, scale: float = 1.0,
                 memory_format: torch.memory_format = torch.channels_last):
        super().__init__()
        self.scale, self.memory_format = scale, memory_format
        self.conv = nn.Sequential(conv_trunk(shape[0], memory_format), nn.Flatten())
        with torch.no_grad():
            n = self.conv(torch.zeros(1, *shape)).shape[1]
        self.proj = nn.Sequential(layer_init(nn.Linear(n, out)), nn.ELU())

    def forward(self, x):
        return self.proj(self.conv((x.float() * self.scale).contiguous(memory_format=self.memory_format)))


class StereoEncoder(nn.Module):
    """One convolutional trunk shared by both eyes; the two feature maps fused location by location.

    Why concatenation of the *spatial* maps (channels of the left map next to the right map's at
    every location, then a 1x1 convolution): the stereo signal is disparity, a horizontal shift of
    the same structure between the eyes. Keeping both maps aligned location by location lets the
    fusion layer compare them where they overlap, which global per-eye vectors would have lost.
    With a 6 cm baseline at ~1 m the disparities are a few pixels of the pooled map, which the 1x1
    convolution after three poolings (receptive field ~30 px) spans.
    """

    def __init__(self, shape, out: int = 256, memory_format: torch.memory_format = torch.channels_last):
        super().__init__()
        self.memory_format = memory_format
        self.trunk = conv_trunk(shape[0], memory_format)
        self.fuse = nn.Sequential(nn.Conv2d(128, 64, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n = self.fuse(torch.cat([self.trunk(torch.zeros(1, *shape))] * 2, 1)).shape[1]
        self.proj = nn.Sequential(layer_init(nn.Linear(n, out)), nn.ELU())

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        n = left.shape[0]
        both = torch.cat([left, right], 0).float() / 255.0  # one pass for both eyes
        both = self.trunk(both.contiguous(memory_format=self.memory_format))
        fl, fr = both[:n], both[n:]  # (slices, not chunk: an exported program keeps any batch size)
        return self.proj(self.fuse(torch.cat([fl, fr], 1)))


IMAGE_SCALES = {k: 1 / 255 for k in RGB_KEYS}
"""Pixel scale of the colour keys (depth is normalised per pixel instead: :data:`DEPTH_STD_FLOOR`)."""

DEPTH_STD_FLOOR = 0.02
"""Metres added to each depth pixel's running standard deviation before dividing (:class:`RunningMeanStd`).

Why depth is normalised per pixel and not scaled by ``1 / far``: from the default camera an object
5 cm across stands out from the table it hides by a median 8 cm, 0.05 after a ``1 / far`` scale,
while the table's own ramp and the misses span 0.4-1.0 of that range. The network then has to find
a 5 % bump on a large, fixed gradient, and at initialisation removing the object changed the depth
encoder's output by 0.3 %. Subtracting each pixel's running mean removes the fixed scene (the table
ramp, the resting arm), so what is left is what changes: the object and the moving robot. The floor
of 2 cm keeps pixels that always see the table from amplifying noise. Measured on rendered frames
(``benchmarks/depth_encoding.py``, which ``tests/test_models.py`` runs): an encoder locates the object to a few
centimetres after 300 supervised steps with it; with ``1 / far`` it stayed at the spread of the spawn region
(measured while developing this, commit 7023151).
"""


DEPTH_ENCODINGS: tuple[str, ...] = ("pixel", "masked")
"""How depth reaches the CNN: ``pixel`` (per-pixel running normalisation, :data:`DEPTH_STD_FLOOR`) or ``masked``
(the same, with the pixels that returned nothing filled and marked in a second channel: :func:`fill_missing`)."""


def fill_missing(x: torch.Tensor, mean: torch.Tensor, far: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``masked`` depth encoding's input: pixels that returned nothing (at the far end) read their running
    mean, and a mask marks them.

    Why: a pixel without a return (a miss, a dropped pixel) reads the far end of the range. Under the per-pixel
    normalisation that is +30 units against the table (clamped at +5): one dropped pixel in a thousand looks
    like an object, and 0.5% dropout took ``depth-scratch`` from 0.88 to 0.00. Filled with its mean it reads 0
    after normalisation, and the mask channel says that it carries no distance; the running statistics see the
    filled value too (2% dropout would otherwise inflate a table pixel's standard deviation to about 8 cm and
    hide the object). ``pixel``, the encoding of every policy before 2026-12-07, feeds the far end as it is.

    Returns:
        ``(filled, missing)``: ``x`` with missing pixels replaced, and the float mask (1 where missing).
    """
    missing = x >= far - 1e-4
    return torch.where(missing, mean.expand_as(x), x), missing.to(x.dtype)


def widen_depth_input(state: dict, actor: nn.Module) -> dict:
    """An actor's state dict of the ``pixel`` depth encoding, made loadable into ``actor`` of the ``masked`` one:
    the first convolution of each masked depth key gets zero weights for the mask channel, so the widened actor
    computes what the old one did wherever no pixel is missing (a second training stage under sensor noise starts
    from the policy it continues). Other state dicts come back unchanged."""
    out = dict(state)
    for k in getattr(actor.encoder, "depth_far", {}):
        name = f"encoder.images.{k}.conv.0.0.weight"
        target = actor.state_dict()[name]
        if name in out and out[name].shape[1] + 1 == target.shape[1]:
            out[name] = torch.cat([out[name], torch.zeros_like(out[name][:, :1])], dim=1)
    return out


class ObsEncoder(nn.Module):
    """Observation keys to one feature vector: vector keys and depth normalised by running statistics
    (depth per pixel, :data:`DEPTH_STD_FLOOR`), images through a CNN, a stereo pair through
    :class:`StereoEncoder`; all concatenated and passed through an MLP.

    Args:
        spaces: ``{key: gymnasium Box}`` of (at least) ``keys``.
        keys: The keys this encoder reads, in order.
        hidden: Widths of the MLP after the fusion.
        hide: ``{key: slice}`` of vector entries the encoder zeroes after normalisation (the network
            never sees them; e.g. a DAgger student's own last action, which it could copy instead of
            looking at the images). Part of the module, so an exported policy hides them too.
        channels_last: Convolutions in the channels-last layout (see :func:`conv_trunk`); False is
            the NCHW layout of earlier versions, kept for the side-by-side benchmark.
        depth_encoding: How depth keys reach their CNN (:data:`DEPTH_ENCODINGS`).
        estimate: Width of an estimate the encoder makes of its own input (0: none): a linear head on the fused
            image features and vector keys, whose output, detached, is also an input of the MLP. Trained by a
            supervised loss on :meth:`features_and_estimate`'s second output (``ppo.py --aux-input``: where the
            object is, in the privileged state's units), so the MLP reads an explicit low-dimensional estimate
            from the start, as a State policy reads the true value; the policy gradient cannot move the estimate
            away from its target (detached), though it still shapes the image features. Part of the module, so
            an exported policy makes the estimate too.
    """

    def __init__(self, spaces: dict, keys, hidden=(512, 256, 128), hide: dict | None = None,
                 channels_last: bool = True, depth_encoding: str = "pixel", estimate: int = 0):
        super().__init__()
        if depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth_encoding={depth_encoding!r} is unknown; expected one of {DEPTH_ENCODINGS}")
        self.keys = tuple(keys)
        self.depth_encoding = depth_encoding
        self.depth_far = {}
        """The far end (m) of each depth key with the ``masked`` encoding (:func:`fill_missing`)."""
        self.norms, self.images = nn.ModuleDict(), nn.ModuleDict()
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.stereo = StereoEncoder(spaces[STEREO_KEYS[0]].shape, memory_format=fmt) if set(STEREO_KEYS) <= set(
            self.keys) else None
        width = 256 if self.stereo is not None else 0
        for k in self.keys:
            shape = spaces[k].shape
            if len(shape) == 3:
                depth = k not in IMAGE_SCALES  # depth (float metres): per-pixel running normalisation
                if depth and depth_encoding == "masked":
                    self.depth_far[k] = float(spaces[k].high.max())
                if self.stereo is None or k not in STEREO_KEYS:
                    channels = (shape[0] + 1,) if k in self.depth_far else shape[:1]
                    self.images[k] = ImageEncoder(channels + tuple(shape[1:]), scale=IMAGE_SCALES.get(k, 1.0),
                                                  memory_format=fmt)
                    width += 256
                if depth:
                    self.norms[k] = RunningMeanStd(shape, std_floor=DEPTH_STD_FLOOR)
            else:
                self.norms[k] = RunningMeanStd(shape)
                width += shape[0]
        self.hidden_keys = tuple(sorted(hide or {}))
        for k, sl in (hide or {}).items():
            if k not in self.norms or len(spaces[k].shape) != 1:
                raise ValueError(f"hide names {k!r}, which is not a vector key of this encoder {self.keys}")
            keep = torch.ones(spaces[k].shape)
            keep[sl] = 0.0
            self.register_buffer(f"keep_{k}", keep)
        self.estimator = layer_init(nn.Linear(width, estimate), std=0.01) if estimate else None
        self.trunk = mlp((width + estimate, *hidden))
        self.out_dim = hidden[-1]
        self.image_bf16 = False
        """Run the image encoders under bf16 autocast (``ppo.py --bf16`` on CPU): the convolutions are the
        learner's cost, and on a CPU with AVX512-BF16 or AMX they run 1.5-2x faster in bf16; their
        features come back as float32, so the MLP, the Gaussian head and PPO's probability ratios stay
        float32. Not saved with the weights; an exported policy runs in float32."""

    def update_norms(self, obs: dict) -> None:
        for k, norm in self.norms.items():
            norm.update(fill_missing(obs[k], norm.mean, self.depth_far[k])[0] if k in self.depth_far else obs[k])

    def _input(self, obs: dict, k: str) -> torch.Tensor:
        if k in self.depth_far:
            filled, missing = fill_missing(obs[k], self.norms[k].mean, self.depth_far[k])
            return self._image(self.images[k], torch.cat([self.norms[k].normalize(filled), missing], dim=1))
        x = self.norms[k].normalize(obs[k]) if k in self.norms else obs[k]
        if k in self.hidden_keys:
            x = x * getattr(self, f"keep_{k}")
        return self._image(self.images[k], x) if k in self.images else x

    def _image(self, encoder: nn.Module, *x: torch.Tensor) -> torch.Tensor:
        if not self.image_bf16:
            return encoder(*x)
        with torch.autocast(x[0].device.type, dtype=torch.bfloat16):
            return encoder(*x).float()

    def forward(self, obs: dict) -> torch.Tensor:
        return self.features_and_estimate(obs)[0]

    def features_and_estimate(self, obs: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The features and the encoder's estimate (``None`` without ``estimate``), which its loss trains."""
        parts = [self._image(self.stereo, *(obs[k] for k in STEREO_KEYS))] if self.stereo is not None else []
        parts += [self._input(obs, k) for k in self.keys if k in self.images or k in self.norms]
        fused = torch.cat(parts, dim=-1)
        if self.estimator is None:
            return self.trunk(fused), None
        estimate = self.estimator(fused)
        return self.trunk(torch.cat([fused, estimate.detach()], dim=-1)), estimate


def bf16_images(encoders, device: str | torch.device, warn: bool = True) -> bool:
    """The scripts' ``--bf16`` for image encoders: their image paths in bf16 (:attr:`ObsEncoder.image_bf16`), but
    on a CPU without native bf16 (:func:`~dexgrasp_env.devices.cpu_has_bf16`), where they would run about 6x
    slower, they stay float32 and a warning says so. Returns whether they run in bf16."""
    use = torch.device(device).type != "cpu" or cpu_has_bf16()
    if not use and warn:
        warnings.warn("--bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), where the image encoders would run "
                      "about 6x slower in bf16; they run in float32", stacklevel=2)
    for encoder in encoders:
        encoder.image_bf16 = use
    return use


class GaussianActor(nn.Module):
    """An encoder and a Gaussian head: ``obs dict -> (action mean, action std)``; what gets exported."""

    def __init__(self, encoder: ObsEncoder, n_actions: int, init_log_std: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.mean = layer_init(nn.Linear(encoder.out_dim, n_actions), std=0.01)
        self.log_std = nn.Parameter(torch.full((1, n_actions), float(init_log_std)))

    def forward(self, obs: dict[str, torch.Tensor]):
        return self.head(self.encoder(obs))

    def head(self, features: torch.Tensor):
        """``(action mean, action std)`` from the encoder's features (for a caller that also needs them)."""
        mean = self.mean(features)
        return mean, self.log_std.expand_as(mean).exp()


def export_policy(actor: nn.Module, keys, example_obs: dict) -> bytes:
    """``actor`` (``obs dict -> (mean, std)``) as a ``torch.export`` program for any batch size.

    Loadable without this package's code: ``torch.export.load(io.BytesIO(data)).module()(obs)``.
    """
    keys = tuple(keys)
    # cloned: a slice of a batch keeps the whole batch's storage, which the program would then carry
    example = {k: example_obs[k][:2].detach().clone() for k in keys}
    batch = torch.export.Dim("batch", min=1)
    # a copy: in float32 (ObsEncoder.image_bf16 off) and with contiguous weights, which the program's
    # archive stores whole (channels-last weights are strided views it warns about)
    actor = copy.deepcopy(actor).eval().to(memory_format=torch.contiguous_format)
    for m in actor.modules():
        if isinstance(m, ObsEncoder):
            m.image_bf16 = False
    program = torch.export.export(actor, (example,), dynamic_shapes=({k: {0: batch} for k in keys},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def load_policy(data: bytes, device: str | torch.device = "cpu") -> nn.Module:
    """An exported policy (:func:`export_policy`) as a module ``obs dict -> (mean, std)``."""
    return torch.export.load(io.BytesIO(data)).module().to(device)
