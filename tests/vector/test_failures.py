"""Worker failures surface as one WorkerError (index, device, traceback) quickly, or are survived."""

from __future__ import annotations

import os
import signal
import time

import gymnasium as gym
import pytest
import torch

import dexgrasp_env  # noqa: F401
from dexgrasp_env import WorkerError
from dexgrasp_env.vector.worker import FAULT_ENV


def _pool(num_envs: int = 4, **kwargs):
    return gym.make_vec("DexGrasp-State-v0", num_envs=num_envs, sim_devices=("cpu", "cpu"), **kwargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): read its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_injected_exception_raises_worker_error_with_traceback(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "1:3")
    env = _pool()
    env.reset(seed=0)
    pids = env.worker_pids()
    env.step(torch.zeros(4, 11))
    env.step(torch.zeros(4, 11))
    start = time.monotonic()
    with pytest.raises(WorkerError) as err:
        env.step(torch.zeros(4, 11))
    assert time.monotonic() - start < 30
    assert err.value.index == 1 and err.value.device == "cpu"
    assert "injected fault at step 3" in err.value.worker_traceback and "Traceback" in err.value.worker_traceback
    assert "simulator worker 1 on device 'cpu'" in str(err.value)
    time.sleep(0.5)
    assert not any(_alive(p) for p in pids)  # the other worker was shut down too
    env.close()
    env.close()


def _parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("start_method", ["auto", "spawn"])
def test_a_worker_sees_the_environment_as_the_pool_starts_it(monkeypatch, start_method):
    """``auto`` forks CPU workers from a forkserver, which started with the first pool's environment; a variable
    set after that must still reach the next pool's workers (as it does for spawned ones)."""
    env = _pool(start_method=start_method)
    env.reset(seed=0)
    forked = all(_parent_pid(p) != os.getpid() for p in env.worker_pids())
    assert forked == (start_method == "auto")  # a forkserver's children are not ours
    env.close()
    monkeypatch.setenv(FAULT_ENV, "1:1")
    env = _pool(start_method=start_method)
    env.reset(seed=0)
    with pytest.raises(WorkerError, match="injected fault at step 1"):
        env.step(torch.zeros(env.action_space.shape))
    env.close()


def test_sigkilled_worker_raises_within_30_s():
    env = _pool()
    env.reset(seed=0)
    env.step(torch.zeros(4, 11))
    os.kill(env.worker_pids()[0], signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(WorkerError, match="SIGKILL") as err:
        env.step(torch.zeros(4, 11))
    assert time.monotonic() - start < 30
    assert err.value.index == 0 and err.value.device == "cpu"
    env.close()


def test_hung_worker_is_killed_after_the_timeout():
    env = _pool(worker_timeout_s=2.0)
    env.reset(seed=0)
    env.step(torch.zeros(4, 11))
    os.kill(env.worker_pids()[1], signal.SIGSTOP)
    start = time.monotonic()
    with pytest.raises(WorkerError, match="no reply within 2 s") as err:
        env.step(torch.zeros(4, 11))
    assert 2.0 <= time.monotonic() - start < 30
    assert err.value.index == 1
    env.close()


@pytest.mark.parametrize("seed", [0, None, 2**63 - 1])
def test_restart_failed_workers_survives_a_sigkill(seed):
    """Unseeded, small and largest seeds: the restart derives new seeds without overflow, and the
    restarted environments end their episodes like any other (next_step: last observation and
    truncated, then a reset on the following step)."""
    env = _pool(restart_failed_workers=True)
    env.reset(seed=seed)
    last, *_ = env.step(torch.zeros(4, 11))
    old = env.worker_pids()
    os.kill(old[1], signal.SIGKILL)
    obs, reward, terminated, truncated, info = env.step(torch.zeros(4, 11))
    assert truncated.tolist() == [False, False, True, True]  # worker 1 held environments 2 and 3
    assert info["worker_restarted"].tolist() == [False, False, True, True]
    assert (reward[2:] == 0).all()
    assert torch.equal(obs[2:], last[2:])  # the last valid observation, as for any ended episode
    new = env.worker_pids()
    assert new[0] == old[0] and new[1] != old[1]
    obs, reward, terminated, truncated, info = env.step(torch.rand(4, 11) * 2 - 1)  # next_step: the reset step
    assert (reward[2:] == 0).all() and not (terminated | truncated).any() and "worker_restarted" not in info
    assert not torch.equal(obs[2:], last[2:])
    assert (obs[2:, -11:] == 0).all()  # a fresh episode: no last action
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(torch.rand(4, 11) * 2 - 1)
        assert torch.isfinite(obs).all() and (reward != 0).all()
    env.close()


def test_reset_and_render_after_a_restart_with_pipelining():
    """A restart while the other half is idle: its next reset and render get their own answers."""
    env = _pool(restart_failed_workers=True, pipeline=True, render_mode="rgb_array", render_width=32,
                render_height=24, num_envs=8)
    half_a, half_b = env.halves()
    half_a.reset(seed=1)
    obs_b, _ = half_b.reset(seed=1)
    half_a.step(torch.zeros(4, 11))
    os.kill(env.worker_pids()[0], signal.SIGKILL)
    _, _, _, truncated, info = half_a.step(torch.zeros(4, 11))
    assert truncated.tolist() == [True, True, False, False] and info["worker_restarted"][:2].all()
    again, _ = half_b.reset(seed=1)  # half B of worker 0 holds envs 2, 3: a reset answered by a reset
    assert torch.equal(again, obs_b)
    frames = half_b.render()
    assert len(frames) == 4 and frames[0].shape == (24, 32, 3)
    obs, reward, terminated, truncated, info = half_b.step(torch.zeros(4, 11))
    assert not truncated.any() and "worker_restarted" not in info  # the reset superseded the restart
    obs, reward, terminated, truncated, info = half_a.step(torch.zeros(4, 11))  # the restart's reset step
    assert (reward[:2] == 0).all() and not truncated.any()
    for _ in range(3):  # both halves keep answering their own requests
        assert half_a.step(torch.zeros(4, 11))[1].abs().min() > 0
        assert half_b.step(torch.zeros(4, 11))[1].abs().min() > 0
    env.close()


def test_async_call_order_is_guarded():
    from gymnasium.error import AlreadyPendingCallError, NoAsyncCallError

    for devices in (None, ("cpu",)):
        env = gym.make_vec("DexGrasp-State-v0", num_envs=2, sim_devices=devices)
        env.reset(seed=0)
        with pytest.raises(NoAsyncCallError):
            env.step_wait()
        env.step_async(torch.zeros(2, 11))
        with pytest.raises(AlreadyPendingCallError):
            env.step_async(torch.zeros(2, 11))
        with pytest.raises(AlreadyPendingCallError):
            env.reset(seed=0)
        env.step_wait()
        with pytest.raises(NoAsyncCallError):  # a second wait does not return the previous result
            env.step_wait()
        env.step(torch.zeros(2, 11))  # still usable
        env.close()


def test_halves_and_the_whole_pool_do_not_overlap():
    from gymnasium.error import AlreadyPendingCallError

    env = gym.make_vec("DexGrasp-State-v0", num_envs=4, pipeline=True)
    half_a, half_b = env.halves()
    env.reset(seed=0)
    half_a.step_async(torch.zeros(2, 11))
    half_b.step(torch.zeros(2, 11))  # the other half is free
    with pytest.raises(AlreadyPendingCallError):
        env.step(torch.zeros(4, 11))
    half_a.step_wait()
    env.step(torch.zeros(4, 11))
    env.close()


def test_script_without_main_guard_fails_fast(tmp_path):
    """Spawned workers import the main script; without a guard they cannot start: say so, quickly."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text("import gymnasium as gym, dexgrasp_env\n"
                      "env = gym.make_vec('DexGrasp-State-v0', num_envs=2, sim_devices=['cpu'])\n")
    start = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "if __name__ == '__main__':" in out.stderr
    assert "AssertionError" not in out.stderr  # the pool's clean-up after a failed start raises nothing of its own
    assert time.monotonic() - start < 120
