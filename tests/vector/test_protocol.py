"""The step-result schema and the request protocol: declared once, checked strictly, packed and unpacked
side by side (``dexgrasp_env.vector.schema`` and ``dexgrasp_env.vector.protocol``)."""

import pytest
import torch

from dexgrasp_env.vector.protocol import Command, Request, RequestBuffer
from dexgrasp_env.vector.schema import Layout, step_fields, step_results, unflatten
from tests.conftest import small_config


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_a_real_step_matches_the_schema_exactly(state_task, mode):
    """What the task returns is what the schema declares: nothing missing, nothing extra, same dtypes."""
    previous = state_task.autoreset_mode
    state_task.autoreset_mode = mode
    try:
        state_task.reset(seed=0)
        out = state_task.step(torch.zeros(state_task.num_envs, state_task.action_dim))
    finally:
        state_task.autoreset_mode = previous
    results = step_results(*out)
    layout = Layout(step_fields(state_task.cfg, mode), state_task.num_envs)
    buf = layout.empty()
    layout.pack(buf, results)
    views = layout.views(buf)
    for path, value in results.items():
        assert torch.equal(views[path], value), path
    assert unflatten(views)["info"]["episode_stats"].keys() == out[4]["episode_stats"].keys()


def test_packing_refuses_missing_extra_and_mistyped_fields():
    cfg = small_config()
    layout = Layout(step_fields(cfg, "next_step"), 3)
    buf = layout.empty()
    results = {path: torch.zeros(3, *shape, dtype=dtype) for path, shape, dtype in layout.fields}
    layout.pack(buf, results)  # complete: fine

    missing = dict(results)
    del missing["info.lifted"]
    with pytest.raises(ValueError, match=r"missing \['info.lifted'\]"):
        layout.pack(buf, missing)
    with pytest.raises(ValueError, match=r"unexpected \['info.bonus'\]"):
        layout.pack(buf, dict(results, **{"info.bonus": torch.zeros(3)}))
    with pytest.raises(ValueError, match="'reward' has shape .* dtype torch.float64"):
        layout.pack(buf, dict(results, reward=torch.zeros(3, dtype=torch.float64)))


@pytest.mark.parametrize("request_", [
    Request(Command.STEP, shard=1, difficulty=0.375),
    Request(Command.RESET, seed=2**62 + 12345, masked=True, ended=True, episodes=True, difficulty=1.0),
    Request(Command.RESET, seed=2**63 - 1),
    Request(Command.RESET, seed=None),
    Request(Command.RENDER, render_size=(160, 120)),
    Request(Command.CLOSE),
])
def test_requests_round_trip(request_):
    """Every field of a request survives pack and unpack (seeds up to 2**63 - 1 included)."""
    buf = RequestBuffer(max_envs=5, action_dim=11)
    actions = torch.arange(55, dtype=torch.float32).view(5, 11)
    mask = torch.tensor([True, False, True, False, False])
    episodes = torch.tensor([0, 7, 2**40, 3, 1])
    buf.pack(request_, actions, mask, episodes)
    assert buf.unpack() == request_
    assert torch.equal(buf.actions, actions) and torch.equal(buf.mask, mask) and torch.equal(buf.episodes, episodes)
