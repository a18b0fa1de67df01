"""The ``multi-node`` recipe across two torchrun nodes on this machine (a c10d rendezvous on localhost): one
node's rank learns (PPO), the other node's rank serves the simulator worker."""

import json
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_ppo_multi_node_recipe_on_two_torchrun_nodes(tmp_path):
    port = _free_port()
    run_dir = tmp_path / "run"
    script = ["algos/ppo.py", "multi-node", "--num-envs", "8", "--num-steps", "8", "--total-timesteps", "128",
              "--env.sensors.depth.width", "16", "--env.sensors.depth.height", "16", "--env.episode-length-s", "0.5",
              "--eval-episodes", "2", "--checkpoint-interval", "100", "--no-progress", "--run-dir", str(run_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank",
                               str(node), "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint",
                               f"localhost:{port}", "--rdzv-id", "dexgrasp-test", *script],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for node in (0, 1)]
    outputs = [n.communicate(timeout=240)[0] for n in nodes]
    for node, (proc, out) in enumerate(zip(nodes, outputs)):
        assert proc.returncode == 0, f"node {node}:\n{out[-3000:]}"
    summary = json.load(open(run_dir / "summary.json"))
    assert summary["final"]["global_step"] == 128
    # the job had two ranks, one per node: rank 0 learned, and the pool's only worker was the other node's rank
    # (with launch="torchrun" the pool refuses to start unless every rank but 0 serves a worker)
    assert summary["args"]["pool"]["launch"] == "torchrun" and summary["args"]["recipe"] == "multi-node"
    assert summary["args"]["overrides"][:2] == ["--num-envs", "8"]
