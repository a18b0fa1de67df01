"""Every example runs at tiny sizes and writes its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*cmd, timeout=600):
    out = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_quickstart(tmp_path):
    run("examples/quickstart.py", "--out", str(tmp_path), "--steps", "3", "--width", "48", "--height", "36")
    for name in ("depth.png", "stereo.png", "person_view.png", "wrist_depth.png", "sensors.png"):
        assert (tmp_path / name).stat().st_size > 100


def test_custom_loop_on_two_workers(tmp_path):
    out = tmp_path / "loop.json"
    run("examples/custom_loop.py", "--sim-devices", "cpu", "cpu", "--num-envs", "4", "--steps", "70", "--out", str(out))
    episodes = json.loads(out.read_text())
    # every environment ends at least one episode in 70 steps (time-out at 60, or earlier if the object falls)
    assert len(episodes) >= 4 and all(1 <= e["length"] <= 60 for e in episodes)
    assert {"return", "length", "success", "lifted"} == set(episodes[0])


def test_sb3_ppo(tmp_path):
    pytest.importorskip("stable_baselines3")
    run("examples/sb3_ppo.py", "--timesteps", "512", "--num-envs", "4", "--episode-length-s", "0.3",
        "--eval-episodes", "2", "--out", str(tmp_path))
    assert (tmp_path / "model.zip").exists()
    assert "mean_return" in json.loads((tmp_path / "eval.json").read_text())


def test_view_policy_from_a_ppo_checkpoint(tmp_path):
    from dexgrasp_env.config import CameraConfig, EnvConfig, SensorsConfig
    from tests.algos.conftest import load_script

    ppo = load_script("ppo")
    ppo.main(ppo.Args(env_id="DexGrasp-Depth-v0", num_envs=2, total_timesteps=32, run_dir=str(tmp_path / "run"),
                      env=EnvConfig(episode_length_s=0.3,
                                    sensors=SensorsConfig.static(CameraConfig(width=32, height=32))), progress=False,
                      eval_episodes=2))
    video = tmp_path / "policy.mp4"
    out = run("examples/view_policy.py", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(video),
              "--episodes", "2")
    assert video.stat().st_size > 1000 and "36 frames" in out


def test_view_policy_films_the_shipped_teacher_by_default(tmp_path):
    """No checkpoint given: the shipped state-teacher, one episode cut at 1 s (its quality: tests/test_pretrained.py)."""
    video = tmp_path / "teacher.mp4"
    out = run("examples/view_policy.py", "--out", str(video), "--episodes", "1", "--episode-length-s", "1")
    assert video.stat().st_size > 10_000
    assert "1 episodes: success" in out and "60 frames" in out



def test_view_policy_films_the_shipped_stereo_student_with_both_eyes(tmp_path):
    video = tmp_path / "stereo.mp4"
    out = run("examples/view_policy.py", "stereo-student", "--out", str(video), "--episodes", "1",
              "--episode-length-s", "0.5")
    assert video.stat().st_size > 10_000 and "1 episodes: success" in out and "30 frames" in out
    import imageio.v2 as imageio

    frame = imageio.get_reader(str(video)).get_data(0)
    assert frame.shape[1] == 320 + 64  # the person's view, the two 64x64 eyes stacked beside it
    assert frame[:64, 320:].mean() > 20 and frame[120:184, 320:].mean() > 20  # both eyes drawn


def test_view_policy_films_the_shipped_depth_teacher(tmp_path):
    """A shipped policy by name: the depth teacher, its depth view beside the person's."""
    video = tmp_path / "depth.mp4"
    out = run("examples/view_policy.py", "depth-teacher", "--out", str(video), "--episodes", "1",
              "--episode-length-s", "0.5")
    assert video.stat().st_size > 10_000 and "1 episodes: success" in out and "30 frames" in out
