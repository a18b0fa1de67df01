"""The shared encoders (``dexgrasp_env.models``) on rendered images: can they see the object?

Why this test exists: a DAgger depth student reached 0.16 of its teacher where the same DAgger into
stereo RGB reached 0.92. The cause was the depth input, not the task: scaled by ``1 / far``, a 5 cm
object is a 5 % bump on the table's fixed ramp. Here an encoder and a linear head learn, supervised,
to locate the object from the images the environment renders; with the per-pixel normalisation of
:data:`~dexgrasp_env.models.DEPTH_STD_FLOOR` depth gets within a few centimetres, as the stereo pair
does. With the old ``1 / far`` scale the depth error stays at the spread of the spawn region (~10 cm).
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

from dexgrasp_env.config import CameraConfig, make_env_config
from dexgrasp_env.models import ObsEncoder
from dexgrasp_env.spaces import STATE_SLICES, key_spaces
from dexgrasp_env.task import GraspTask

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import depth_encoding as probe  # noqa: E402  (the localisation probe, one copy)

SIZE, ENVS, STEPS = 64, 256, 300


@pytest.fixture(scope="module")
def frames():
    """Depth, the stereo pair and the object position of ~770 rendered 64x64 frames (reset + random steps)."""
    cfg = make_env_config("stereo_rgb", camera=CameraConfig(width=SIZE, height=SIZE), extra_obs=("depth", "state"))
    task = GraspTask(cfg, ENVS, "cpu", autoreset_mode="disabled")
    obs = task.reset(seed=0)
    rows = [obs]
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):  # the arm somewhere else, the object maybe nudged
        for _ in range(5):
            obs, *_ = task.step(torch.rand(ENVS, task.action_dim, generator=gen) * 2 - 1)
        rows.append(obs)
    task.close()
    data = {k: torch.cat([r[k] for r in rows]) for k in ("depth", "left", "right")}
    data["target"] = torch.cat([r["state"][:, STATE_SLICES["object_pos"]] for r in rows])
    return data, key_spaces(cfg)


def locate(data, spaces, keys, steps: int = STEPS, encoding: str = "pixel") -> tuple[float, float]:
    """Train encoder + linear head to regress the object position (``benchmarks/depth_encoding.py``'s probe);
    mean error on the held-out eighth of the frames and the predict-the-mean baseline (m)."""
    err = probe.locate({**data, "spaces": spaces}, {"held-out": data}, encoding, steps, keys=keys)
    return err["held-out"], err["baseline"]


@pytest.mark.parametrize("keys, encoding", [(("depth",), "pixel"), (("depth",), "masked"), (("left", "right"), "pixel")],
                         ids=["depth", "depth-masked", "stereo"])
def test_encoder_locates_the_object_within_a_few_centimetres(frames, keys, encoding):
    data, spaces = frames
    err, baseline = locate(data, spaces, keys, encoding=encoding)
    print(f"{'+'.join(keys)}: {100 * err:.2f} cm after {STEPS} steps (predicting the mean: {100 * baseline:.2f} cm)")
    assert baseline > 0.08  # the object really moves between frames
    assert err < 0.04


def test_hidden_entries_do_not_reach_the_network():
    cfg = make_env_config("depth", camera=CameraConfig(width=16, height=16))
    spaces = key_spaces(cfg)
    hidden = slice(70, 79)
    enc = ObsEncoder(spaces, ("depth", "proprio"), hide={"proprio": hidden})
    obs = {"depth": torch.rand(2, 1, 16, 16), "proprio": torch.randn(2, 79)}
    other = {"depth": obs["depth"], "proprio": obs["proprio"].clone()}
    other["proprio"][:, hidden] += 10.0
    assert torch.equal(enc(obs), enc(other))
    other["proprio"][:, 0] += 10.0
    assert not torch.equal(enc(obs), enc(other))
    with pytest.raises(ValueError, match="not a vector key"):
        ObsEncoder(spaces, ("depth", "proprio"), hide={"depth": slice(0, 1)})


def test_channels_last_and_bf16_encoders_agree_with_nchw_float32():
    """The layouts compute the same function; bf16 image encoders stay close; the export is float32."""
    from dexgrasp_env.models import GaussianActor, export_policy, load_policy

    cfg = make_env_config("depth", camera=CameraConfig(width=48, height=48))
    spaces, keys = key_spaces(cfg), ("depth", "proprio")
    torch.manual_seed(0)
    nchw = GaussianActor(ObsEncoder(spaces, keys, channels_last=False), 11)
    fast = GaussianActor(ObsEncoder(spaces, keys), 11)
    fast.load_state_dict(nchw.state_dict())
    conv = fast.encoder.images["depth"].conv[0][3].weight  # (one input channel: both layouts coincide)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    obs = {"depth": 0.6 + 0.4 * torch.rand(9, 1, 48, 48), "proprio": torch.randn(9, spaces["proprio"].shape[0])}
    for actor in (nchw, fast):
        actor.encoder.update_norms(obs)
        with torch.no_grad():  # a mean head of std 0.01 would hide differences in the features
            actor.mean.weight.normal_(generator=torch.Generator().manual_seed(1))
    ref = nchw(obs)[0]
    assert torch.allclose(fast(obs)[0], ref, atol=1e-4)
    ref.square().sum().backward()
    fast(obs)[0].square().sum().backward()
    grad_nchw, grad_fast = (a.encoder.images["depth"].conv[0][0].weight.grad for a in (nchw, fast))
    assert torch.allclose(grad_fast, grad_nchw, rtol=1e-3, atol=1e-4)
    fast.encoder.image_bf16 = True
    low = fast(obs)[0]
    assert not torch.equal(low, ref) and torch.allclose(low, ref, rtol=0.05, atol=0.05)
    exported = load_policy(export_policy(fast, keys, obs))(obs)[0]
    assert torch.allclose(exported, ref, atol=1e-4)  # float32, whatever the training ran in
    assert fast.encoder.image_bf16 and fast.training  # the export left the actor as it was


def test_masked_depth_locates_the_object_through_dropout_noise_and_camera_error():
    """The fix for depth under a real sensor (``depth_encoding="masked"``): an encoder trained on clean 32x32 frames
    of the ``depth-scratch`` camera still locates the object when the same worlds are seen with 5 mm noise and
    2% dropped pixels, or with the camera 1 cm / 1 degree off and 2% dropout. The ``pixel`` encoding (every policy
    before 2026-12-07) falls to the predict-the-mean baseline there (measured: 8.8 and 10.3 cm against 9.8;
    ``benchmarks/results/depth_encoding_cpu-2core_2026-12-06.json``): a dropped pixel reads +5 units."""
    perturbations = {"none": {}, "noise 5 mm + dropout 2%": dict(depth_noise_std=0.005, depth_dropout=0.02),
                     "camera 1 cm, 1 deg + dropout 2%": dict(camera_position_noise=0.01, camera_rotation_noise_deg=1.0,
                                                             depth_dropout=0.02)}
    frames = {k: probe.render(p, 256, 32, 30.0, (0.6, 0.0, 0.18)) for k, p in perturbations.items()}
    err = probe.locate(frames["none"], frames, "masked", steps=300)
    print({k: f"{100 * v:.1f} cm" for k, v in err.items()})
    assert err["baseline"] > 0.08 and err["none"] < 0.045
    assert err["noise 5 mm + dropout 2%"] < 0.06
    assert err["camera 1 cm, 1 deg + dropout 2%"] < 0.075


def test_a_pixel_actor_widened_to_masked_computes_the_same_where_nothing_is_missing():
    from dexgrasp_env.models import GaussianActor, widen_depth_input

    cfg = make_env_config("depth", camera=CameraConfig(width=16, height=16))
    spaces, keys = key_spaces(cfg), ("depth", "proprio")
    torch.manual_seed(0)
    pixel = GaussianActor(ObsEncoder(spaces, keys), 11)
    obs = {"depth": 0.6 + 0.4 * torch.rand(5, 1, 16, 16), "proprio": torch.randn(5, spaces["proprio"].shape[0])}
    pixel.encoder.update_norms(obs)
    with torch.no_grad():
        pixel.mean.weight.normal_()
    masked = GaussianActor(ObsEncoder(spaces, keys, depth_encoding="masked"), 11)
    masked.load_state_dict(widen_depth_input(pixel.state_dict(), masked))
    assert torch.allclose(masked(obs)[0], pixel(obs)[0], atol=1e-5)
    holes = {**obs, "depth": obs["depth"].clone()}
    holes["depth"][:, :, 3:6, 3:6] = 1.6  # no return: pixel reads +5 there, masked reads its mean
    assert not torch.allclose(masked(holes)[0], pixel(holes)[0], atol=1e-3)


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-bf16"])
def test_bf16_images_on_a_cpu_without_native_bf16_stay_float32(monkeypatch, native):
    """``--bf16``: bf16 image encoders on a CPU only where it computes bf16 natively (elsewhere they would run
    about 6x slower), with a warning where not; on CUDA always."""
    import dexgrasp_env.models as models

    monkeypatch.setattr(models, "cpu_has_bf16", lambda: native)
    cfg = make_env_config("depth", camera=CameraConfig(width=16, height=16))
    encoders = [ObsEncoder(key_spaces(cfg), ("depth", "proprio")) for _ in range(2)]
    if native:
        assert models.bf16_images(encoders, "cpu") is True
    else:
        with pytest.warns(UserWarning, match="no native bf16"):
            assert models.bf16_images(encoders, "cpu") is False
    assert [e.image_bf16 for e in encoders] == [native, native]
    assert models.bf16_images(encoders, "cuda", warn=False) is True  # (no CUDA needed: nothing runs)
    assert all(e.image_bf16 for e in encoders)
