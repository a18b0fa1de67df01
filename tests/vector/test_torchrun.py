"""The pool under torchrun: a learner and two workers join one process group and step 100 times."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_torchrun_learner_and_two_workers():
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3",
           os.path.join(ROOT, "examples", "torchrun_pool.py"), "--num-envs", "6", "--steps", "100", "--size", "16"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "rank 0: 100 steps of 6 envs on 2 workers" in out.stdout


def test_torchrun_silent_worker_fails_the_learner_within_the_timeout():
    """worker_timeout_s holds under torchrun too: a worker rank that stops answering is a WorkerError."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3",
           os.path.join(ROOT, "examples", "torchrun_pool.py"), "--num-envs", "4", "--steps", "20", "--size", "16",
           "--env-id", "DexGrasp-State-v0", "--worker-timeout-s", "3"]
    env = dict(os.environ, DEXGRASP_INJECT_FAULT="1:5:hang")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode != 0
    assert "WorkerError" in out.stderr and "no reply within 3 s" in out.stderr, out.stderr[-3000:]
