"""The benchmark scripts run (tiny sizes, on the CPU) and print the JSON they promise."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from dexgrasp_env.config import RandomizationConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_suite_runs_at_tiny_sizes_on_the_cpu(tmp_path):
    out = subprocess.run(["bash", "benchmarks/gpu_suite.sh", "--quick", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    files = {os.path.basename(p).split("_")[0]: p for p in glob.glob(str(tmp_path / "*_cpu_*.json"))}
    assert set(files) == {"throughput", "pool", "capacity", "ppo"}, files
    throughput = json.load(open(files["throughput"]))
    from dexgrasp_env.config import ENV_IDS

    assert {r["env_id"] for r in throughput["results"]} == set(ENV_IDS)
    assert all(r["backend"] == "warp" and r["env_steps_per_s"] > 0 for r in throughput["results"])
    ppo = json.load(open(files["ppo"]))
    assert ppo["device"] == "cpu" and ppo["final"]["sps"] > 0 and ppo["curve"]


def test_backends_benchmark_compares_both_backends(tmp_path):
    path = tmp_path / "backends.json"
    out = subprocess.run([sys.executable, "benchmarks/backends.py", "--quick", "--object-sets", "primitives",
                          "procedural", "--out", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    r = json.load(open(path))["results"]
    assert r["single_env"]["mujoco"] > 0 and r["single_env"]["warp"] > 0 and r["single_env"]["ant_v5_steps_per_s"]
    assert r["state_vector"]["8"]["c_physics_limit"] > 0
    assert set(r["depth_vector"]) == {"64x64", "160x120"}
    assert r["ppo_sps_512"]["mujoco"] > 0 and r["ppo_sps_512"]["warp"] > 0
    paired = r["single_env"]["mujoco_over_ant_interleaved"]
    assert paired["median"] > 0 and len(paired["ratios"]) == len(paired["steps_per_s"]) >= 1
    assert set(r["single_env"]["profile_mujoco"]) >= {"physics_us", "action_map_us", "rest_of_task_layer_us"}
    for backend in ("mujoco", "warp"):
        rows = r["object_sets"][backend]
        assert set(rows) == {"primitives", "procedural"}
        assert all(v["env_steps_per_s"] > 0 and v["sim_bytes_per_world"] > 0 and v["peak_rss_bytes"] > 0
                   for v in rows.values())
        assert rows["procedural"]["over_primitives"] > 0


def test_in_training_benchmark_splits_the_rollout_of_a_grasping_policy(tmp_path):
    path = tmp_path / "in_training.json"
    out = subprocess.run([sys.executable, "benchmarks/in_training.py", "--quick", "--recipes", "depth-scratch-hour",
                          "--out", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = json.load(open(path))["results"]
    runs = results["configurations"]
    # the baseline (every geom traced every step) first, then the recipe as it runs now, side by side
    assert list(runs) == ["depth-scratch-hour (before 2026-12-07)", "depth-scratch-hour"]
    assert results["sustained_speedup"]["depth-scratch-hour (before 2026-12-07)"] == 1.0
    for r in runs.values():
        split = r["rollout_split"]
        # the shipped policy drives the worlds: whole episodes end, and it lifts (a fresh policy would not)
        assert split["episodes_ended"] >= split["num_envs"] and split["episodes_lifted"] >= 1
        us = split["us_per_env_step"]
        assert min(us.values()) > 0
        parts = us["physics"] + us["render"] + us["action_map"] + us["rest_of_task_layer"]
        assert abs(parts - us["env_step_in_process"]) < 0.5
        ppo = r["ppo"]
        # --quick times its one update without a warm-up (two tiny runs' difference is noise)
        assert ppo["warmup_updates"] == 0 and ppo["updates_timed"] == 1 and min(ppo["us_per_sample"].values()) > 0
        assert ppo["one_evaluation_s"] > 0 and ppo["us_per_sample"]["evaluation"] > 0
        assert 0 < ppo["sustained_sps"] < ppo["sps_without_evaluations"]


def test_plot_curves_writes_the_png_and_the_record_of_each_run(tmp_path):
    curve = [{"global_step": 4096 * i, "wall_time_s": 10.0 * i, "success_rate": 0.1 * i, "lifted_rate": 0.2 * i}
             for i in range(1, 4)]
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"args": {"num_envs": 8}, "final": {"sps": 100}, "curve": curve}))
    png, record = tmp_path / "curve.png", tmp_path / "curve.json"
    cmd = [sys.executable, "benchmarks/plot_curves.py", "ppo", str(summary), "--labels", "run",
           "--commands", "python algos/ppo.py --num-envs 8", "--out", str(png), "--json", str(record)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert png.stat().st_size > 10_000
    run = json.load(open(record))["runs"]["run"]
    assert run["command"] == "python algos/ppo.py --num-envs 8"
    assert run["curve"] == curve and run["args"]["num_envs"] == 8
    bad = subprocess.run(cmd[:5] + ["a", "b"] + cmd[6:], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "1 summaries need as many --labels" in bad.stderr


def test_stereo_comparison_task_is_the_teachers_task_under_the_papers_randomization():
    """Both arms distil on one task: the teachers' action and reward, stereo at the depth teacher's size, under
    ``RandomizationConfig.full()`` (or the default physics with lights and colours randomised), camera pose noise on
    unless asked off; evaluations under the task's, the default and the full randomization; a teacher of another
    task, or a malformed arm, is refused."""
    import dataclasses
    import importlib.util

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from _common import load_script

    spec = importlib.util.spec_from_file_location("stereo_comparison", os.path.join(ROOT, "benchmarks",
                                                                                   "stereo_comparison.py"))
    sc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sc)
    dagger = load_script("dagger")
    teachers = {n: dagger.load_teacher(n, "cpu")[2] for n in ("state-teacher", "depth-teacher")}
    full = RandomizationConfig.full()
    for camera_noise in (True, False):
        for physics in ("full", "default"):
            task = sc.comparison_task(teachers, 64, camera_noise, physics)
            assert task.obs_mode == "stereo_rgb" and (task.sensors.stereo.width, task.sensors.stereo.height) == (64, 64)
            rc = task.randomization
            assert rc.light_scale == (0.5, 1.5) and rc.color_noise == 0.15
            assert (rc.camera_rotation_noise_deg == 3.0) is camera_noise
            assert (rc.camera_position_noise == 0.03) is camera_noise
            assert task.action_mode == teachers["state-teacher"].action_mode == teachers["depth-teacher"].action_mode
            # every other field is full()'s, or the default's
            ranges = full if physics == "full" else RandomizationConfig()
            assert dataclasses.replace(rc, **{f: getattr(ranges, f) for f in (*sc.APPEARANCE, *sc.CAMERA_NOISE)}) == (
                ranges)
            assert not rc.curriculum.enabled
    evals = sc.eval_tasks(task, sc.EVAL_RANDOMIZATIONS)
    assert evals["task"].randomization == task.randomization and evals["full"].randomization == full
    assert evals["default"].randomization == RandomizationConfig()
    assert all(t.object_assignment == "cycle" and t.sensors == task.sensors for t in evals.values())
    with pytest.raises(ValueError, match="unknown"):
        sc.comparison_task(teachers, 64, True, "wide")
    assert sc.arm_names(["a=state-teacher", "b=runs/x/best.pt"]) == {"a": "state-teacher", "b": "runs/x/best.pt"}
    for bad in (["a=state-teacher"], ["a=state-teacher", "depth-teacher"], ["a=x", "a=y"]):
        with pytest.raises(ValueError, match="label=teacher"):
            sc.arm_names(bad)
    other = dict(teachers, joint=dataclasses.replace(teachers["state-teacher"], action_mode="joint"))
    with pytest.raises(ValueError, match="teacher 'joint' was trained with action_mode='joint'"):
        sc.comparison_task(other, 64, True)
    # students at another size: each teacher keeps its own view (dagger.task_config renders it beside theirs)
    small = sc.comparison_task(teachers, 32, True)
    assert small.sensors.stereo.width == 32
    args = dagger.Args(teacher="depth-teacher", env_id="DexGrasp-StereoRGB-v0", use_teacher_task=False, env=small)
    _, keys, depth_cfg = dagger.load_teacher("depth-teacher", "cpu")
    assert dagger.task_config(args, keys, depth_cfg).sensors.depth == depth_cfg.sensors.depth
    arms = {"s": {"success_mean": 0.5, "success_min": 0.4, "success_max": 0.6},
            "d": {"success_mean": 0.8, "success_min": 0.7, "success_max": 0.9}}
    assert sc.outcome(arms, "s", "d").startswith("the paper's claim holds")
    assert sc.outcome(arms, "d", "s").startswith("against the paper")
    arms["d"]["success_min"] = 0.55
    assert sc.outcome(arms, "s", "d").startswith("no separation")


def test_camera_framing_finds_the_goals_above_a_narrow_frame(tmp_path):
    """The geometry of three framings and a shipped depth policy on low and high goals (2 episodes)."""
    out = tmp_path / "framing.json"
    res = subprocess.run([sys.executable, "benchmarks/camera_framing.py", "--sizes", "32", "--fovys", "30", "50",
                          "--target-heights", "0.05", "0.18", "--policies", "depth-teacher", "--episodes", "2",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    record = json.load(open(out))
    rows = {(r["camera"]["fovy"], r["camera"]["target"][2]): r for r in record["geometry"]}
    narrow = rows[(30.0, 0.05)]  # the from-scratch recipe's camera: the upper goals leave its frame
    assert narrow["spawn_region_in_view"] == 1.0 and narrow["goal_box_low_half_in_view"] > 0.9
    assert narrow["goal_box_high_half_in_view"] < 0.4
    assert rows[(50.0, 0.05)]["goal_box_in_view"] == 1.0  # the default camera sees every goal
    assert rows[(30.0, 0.18)]["goal_box_in_view"] > 0.95 and rows[(30.0, 0.18)]["spawn_region_in_view"] == 1.0
    assert narrow["object_px_at_spawn_centre"] > 1.5 * rows[(50.0, 0.05)]["object_px_at_spawn_centre"]
    teacher = record["policies"]["depth-teacher"]
    assert teacher["framing"]["camera"]["width"] == 64 and teacher["framing"]["goal_box_in_view"] == 1.0
    assert teacher["low_goals"]["goal_high"][2] == teacher["high_goals"]["goal_low"][2] == pytest.approx(0.3)
    halves = [teacher[h] for h in ("low_goals", "high_goals")]
    # the policy ran through its own camera and lifted: 0.77 of its episodes lift, so all 4 failing (p = 0.003)
    # means the evaluation is broken (a wrong view scores 0)
    assert sum(h["lifted_rate"] for h in halves) >= 0.5
