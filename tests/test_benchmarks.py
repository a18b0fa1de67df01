"""The benchmark scripts run (tiny sizes, on the CPU) and print the JSON they promise."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_suite_runs_at_tiny_sizes_on_the_cpu(tmp_path):
    out = subprocess.run(["bash", "benchmarks/gpu_suite.sh", "--quick", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    files = {os.path.basename(p).split("_")[0]: p for p in glob.glob(str(tmp_path / "*_cpu_*.json"))}
    assert set(files) == {"throughput", "pool", "capacity", "ppo"}, files
    throughput = json.load(open(files["throughput"]))
    assert {r["env_id"] for r in throughput["results"]} == {"DexGrasp-State-v0", "DexGrasp-Depth-v0",
                                                            "DexGrasp-StereoRGB-v0"}
    assert all(r["backend"] == "warp" and r["env_steps_per_s"] > 0 for r in throughput["results"])
    ppo = json.load(open(files["ppo"]))
    assert ppo["device"] == "cpu" and ppo["final"]["sps"] > 0 and ppo["curve"]


def test_backends_benchmark_compares_both_backends(tmp_path):
    path = tmp_path / "backends.json"
    out = subprocess.run([sys.executable, "benchmarks/backends.py", "--quick", "--out", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    r = json.load(open(path))["results"]
    assert r["single_env"]["mujoco"] > 0 and r["single_env"]["warp"] > 0 and r["single_env"]["ant_v5_steps_per_s"]
    assert r["state_vector"]["8"]["c_physics_limit"] > 0
    assert set(r["depth_vector"]) == {"64x64", "160x120"}
    assert r["ppo_sps_512"]["mujoco"] > 0 and r["ppo_sps_512"]["warp"] > 0
    assert set(r["single_env"]["profile_mujoco"]) >= {"physics_us", "action_map_us", "rest_of_task_layer_us"}
