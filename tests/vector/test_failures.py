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


def _pool(**kwargs):
    return gym.make_vec("DexGrasp-State-v0", num_envs=4, sim_devices=("cpu", "cpu"), **kwargs)


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
    env.step(torch.zeros(4, 23))
    env.step(torch.zeros(4, 23))
    start = time.monotonic()
    with pytest.raises(WorkerError) as err:
        env.step(torch.zeros(4, 23))
    assert time.monotonic() - start < 30
    assert err.value.index == 1 and err.value.device == "cpu"
    assert "injected fault at step 3" in err.value.worker_traceback and "Traceback" in err.value.worker_traceback
    assert "simulator worker 1 on device 'cpu'" in str(err.value)
    time.sleep(0.5)
    assert not any(_alive(p) for p in pids)  # the other worker was shut down too
    env.close()
    env.close()


def test_sigkilled_worker_raises_within_30_s():
    env = _pool()
    env.reset(seed=0)
    env.step(torch.zeros(4, 23))
    os.kill(env.worker_pids()[0], signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(WorkerError, match="SIGKILL") as err:
        env.step(torch.zeros(4, 23))
    assert time.monotonic() - start < 30
    assert err.value.index == 0 and err.value.device == "cpu"
    env.close()


def test_hung_worker_is_killed_after_the_timeout():
    env = _pool(worker_timeout_s=2.0)
    env.reset(seed=0)
    env.step(torch.zeros(4, 23))
    os.kill(env.worker_pids()[1], signal.SIGSTOP)
    start = time.monotonic()
    with pytest.raises(WorkerError, match="no reply within 2 s") as err:
        env.step(torch.zeros(4, 23))
    assert 2.0 <= time.monotonic() - start < 30
    assert err.value.index == 1
    env.close()


def test_restart_failed_workers_survives_a_sigkill():
    env = _pool(restart_failed_workers=True)
    env.reset(seed=0)
    env.step(torch.zeros(4, 23))
    old = env.worker_pids()
    os.kill(old[1], signal.SIGKILL)
    obs, reward, terminated, truncated, info = env.step(torch.zeros(4, 23))
    assert truncated.tolist() == [False, False, True, True]  # worker 1 held environments 2 and 3
    assert info["worker_restarted"].tolist() == [False, False, True, True]
    assert (reward[2:] == 0).all()
    new = env.worker_pids()
    assert new[0] == old[0] and new[1] != old[1]
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(torch.rand(4, 23) * 2 - 1)
        assert torch.isfinite(obs).all() and "worker_restarted" not in info
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
    assert time.monotonic() - start < 120
