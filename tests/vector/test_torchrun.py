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
