"""algos/dagger.py: distillation works, the replay buffer mixes and wraps, resume, evaluation."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import gymnasium as gym
import pytest
import torch

from dexgrasp_env import checkpoints
from dexgrasp_env.config import CameraConfig, EnvConfig, SensorsConfig
from dexgrasp_env.spaces import key_spaces
from tests.algos.conftest import ROOT, load_script
from tests.algos.test_ppo import assert_every_flag_explained

ppo = load_script("ppo")
dagger = load_script("dagger")


@pytest.fixture(scope="module")
def state_teacher(tmp_path_factory):
    """A briefly trained state teacher (its task has 32x32 cameras, for the image students)."""
    path = tmp_path_factory.mktemp("teacher")
    env = EnvConfig(episode_length_s=1.0, sensors=SensorsConfig.static(CameraConfig(width=32, height=32)))
    ppo.main(ppo.Args(num_envs=32, total_timesteps=32 * 16 * 12, env=env, run_dir=str(path), progress=False,
                      init_log_std=-1.0, gamma=0.99, checkpoint_interval=1000, eval_episodes=4))
    return str(path / "checkpoint.pt")


def _args(tmp_path, teacher, **kw):
    defaults = dict(teacher=teacher, num_envs=16, run_dir=str(tmp_path), progress=False,
                    eval_interval=1000, eval_episodes=2, minibatch_size=256, heldout_envs=4,
                    env=EnvConfig(sensors=SensorsConfig.static(CameraConfig(width=32, height=32))))
    defaults.update(kw)
    return dagger.Args(**defaults)


def test_state_student_error_falls_fivefold(tmp_path, state_teacher):
    stats = dagger.main(_args(tmp_path, state_teacher, env_id="DexGrasp-State-v0", total_timesteps=16 * 16 * 20))
    print(f"held-out action MSE {stats['initial_heldout_action_mse']:.5f} -> {stats['heldout_action_mse']:.5f}")
    assert stats["heldout_action_mse"] * 5 < stats["initial_heldout_action_mse"]
    # student and teacher were evaluated on the same worlds, with every metric reported for both
    for who in ("student", "teacher"):
        assert {f"{who}_success_rate", f"{who}_lifted_rate", f"{who}_mean_return"} <= set(stats)


def test_stereo_student_runs_with_falling_error(tmp_path, state_teacher):
    """(With the image encoders in bf16: the stereo path of ``ObsEncoder.image_bf16``.)"""
    stats = dagger.main(_args(tmp_path, state_teacher, env_id="DexGrasp-StereoRGB-v0", num_envs=8,
                              total_timesteps=8 * 16 * 6, eval_episodes=0, bf16=True))
    assert stats["iteration"] == 6
    for key in ("loss_action", "loss_logstd", "loss_aux", "heldout_action_mse"):
        assert torch.isfinite(torch.tensor(stats[key])), key
    assert stats["heldout_action_mse"] < stats["initial_heldout_action_mse"]
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    assert set(ckpt["student_keys"]) == {"left", "right", "proprio"}
    assert ckpt["env_config"]["extra_obs"] == ["state"]  # the teacher's view, rendered in the same step
    assert any(k.startswith("actor.encoder.stereo.trunk") for k in ckpt["student"])  # one trunk for both eyes


def test_replay_buffer_mixes_in_ratio_and_wraps_in_place():
    spec = {"left": ((3, 4, 4), torch.uint8), "t_mean": ((11,), torch.float32)}
    buf = dagger.ReplayBuffer(100, spec, "cpu")
    assert buf.data["left"].dtype == torch.uint8
    ptrs = {k: v.data_ptr() for k, v in buf.data.items()}
    for i in range(7):  # 7 x 30 = 210 writes into 100 slots
        buf.add({"left": torch.full((30, 3, 4, 4), i, dtype=torch.uint8), "t_mean": torch.full((30, 11), float(i))})
    assert {k: v.data_ptr() for k, v in buf.data.items()} == ptrs  # no reallocation
    assert buf.size == 100 and buf.pos == 10
    # batches 3, 4, 5 and 6 are the newest: 0-9 hold batch 6, 10-19 batch 3, 20-49 batch 4
    assert (buf.data["t_mean"][:10] == 6).all() and (buf.data["t_mean"][10:20] == 3).all()
    assert (buf.data["t_mean"][20:50] == 4).all()
    fresh = {"left": torch.full((50, 3, 4, 4), 99, dtype=torch.uint8), "t_mean": torch.full((50, 11), 99.0)}
    batch, origin = dagger.mixed_minibatch(fresh, buf, 200, fresh_fraction=0.25)
    assert origin.sum() == 50 and (~origin).sum() == 150
    assert (batch["t_mean"][origin] == 99).all() and (batch["t_mean"][~origin] < 99).all()
    assert buf.nbytes() == 100 * (3 * 4 * 4 + 11 * 4)


def test_resume_continues_step_count_and_optimiser(tmp_path, state_teacher):
    first = dagger.main(_args(tmp_path / "a", state_teacher, env_id="DexGrasp-State-v0",
                              total_timesteps=16 * 16 * 2, eval_episodes=0, eval_interval=1))
    saved = checkpoints.load(tmp_path / "a" / "checkpoint.pt")
    assert saved["iteration"] == 2 and saved["global_step"] == first["global_step"]
    second = dagger.main(_args(tmp_path / "b", state_teacher, env_id="DexGrasp-State-v0", resume=str(
        tmp_path / "a" / "checkpoint.pt"), total_timesteps=16 * 16 * 3, eval_episodes=0, eval_interval=1))
    assert second["iteration"] == 3 and second["global_step"] == saved["global_step"] + 16 * 16
    resumed = checkpoints.load(tmp_path / "b" / "checkpoint.pt")
    step = saved["optimizer"]["state"][0]["step"].item()
    assert resumed["optimizer"]["state"][0]["step"].item() == step + dagger.Args().updates_per_iteration


def test_eval_checkpoint_writes_a_video_of_both_eyes(tmp_path, state_teacher):
    dagger.main(_args(tmp_path, state_teacher, env_id="DexGrasp-StereoRGB-v0", num_envs=4,
                      total_timesteps=4 * 16, eval_episodes=0))
    video = tmp_path / "student.mp4"
    result = dagger.main(dagger.Args(eval_checkpoint=str(tmp_path / "checkpoint.pt"), eval_episodes=2,
                                     eval_video=str(video), progress=False))
    assert video.stat().st_size > 1000 and result["student_episodes"] == 2
    import imageio.v2 as imageio

    frame = imageio.get_reader(str(video)).get_data(0)
    assert frame.shape[1] > 320  # the person's view and the two eyes beside it


def test_cli_help():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "algos", "dagger.py"), "--help"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "--teacher" in out.stdout and "--replay-size" in out.stdout
    assert "--recurrent" not in out.stdout  # removed: a flag that did not do what it said
    assert_every_flag_explained(out.stdout)
    with pytest.raises(ValueError, match="--teacher is required"):
        dagger.main(dagger.Args(progress=False))
    with pytest.raises(ValueError, match="no shipped policy named 'teacher-of-nobody'"):
        dagger.main(dagger.Args(teacher="teacher-of-nobody", progress=False))


def test_ppo_fine_tunes_a_depth_student(tmp_path, state_teacher):
    """ppo.py --init-actor: the student's task and weights; the critic warms up while the actor waits (updates 1
    and 2), then the actor learns with the KL anchor to the student in its loss (update 3)."""
    student_dir, ppo_dir = tmp_path / "student", tmp_path / "ppo"
    dagger.main(_args(student_dir, state_teacher, env_id="DexGrasp-Depth-v0", num_envs=8, total_timesteps=8 * 16 * 2,
                      eval_episodes=0))
    student = checkpoints.load(student_dir / "checkpoint.pt")
    assert "actor.encoder.keep_proprio" in student["student"]  # its own last action was hidden
    init = str(student_dir / "checkpoint.pt")
    stats = ppo.main(ppo.Args(env_id="DexGrasp-Depth-v0", init_actor=init, num_envs=8, total_timesteps=8 * 16 * 3,
                              critic_warmup_updates=2, eval_interval=1, eval_episodes=2, run_dir=str(ppo_dir),
                              progress=False, checkpoint_interval=1000, max_learning_rate=3e-4,
                              separate_grad_clip=True, anchor_coef=1.0))
    assert stats["update"] == 3
    weights = [k for k in student["student"] if k.startswith("actor.") and ".norms." not in k and "keep_" not in k]
    warm = checkpoints.load(ppo_dir / "best.pt")  # written by an evaluation during the warm-up
    assert warm["update"] <= 2 and weights and all(torch.equal(warm["agent"][k], student["student"][k])
                                                   for k in weights)
    tuned = checkpoints.load(ppo_dir / "checkpoint.pt")
    assert tuned["env_config"]["sensors"]["depth"]["width"] == 32 and tuned["env_config"]["extra_obs"] == ["state"]
    assert not all(torch.equal(tuned["agent"][k], student["student"][k]) for k in weights)  # update 3 moved it
    assert stats["losses"]["anchor_kl"] > 0.0  # ... away from the student, and the anchor saw it
    with pytest.raises(ValueError, match="--anchor-coef 1.0 needs --init-actor"):
        ppo.main(ppo.Args(env_id="DexGrasp-Depth-v0", anchor_coef=1.0, run_dir=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="obs_mode='depth'"):
        ppo.main(ppo.Args(env_id="DexGrasp-StereoRGB-v0", init_actor=init, run_dir=str(tmp_path / "x")))


def test_ship_policy_ships_a_dagger_student_without_its_teachers_keys(tmp_path, state_teacher):
    """benchmarks/ship_policy.py takes a DAgger checkpoint: the student's actor and its task without the
    teacher's extra keys, evaluated on that task."""
    run = tmp_path / "run"
    dagger.main(_args(run, state_teacher, env_id="DexGrasp-StereoRGB-v0", num_envs=4, total_timesteps=4 * 16,
                      eval_episodes=0, env=EnvConfig(episode_length_s=0.5,
                                                     sensors=SensorsConfig.static(CameraConfig(width=32, height=32)))))
    out = subprocess.run([sys.executable, "benchmarks/ship_policy.py", str(run / "checkpoint.pt"), "--name", "tiny",
                          "--eval-seeds", "1", "--eval-episodes", "2", "--policy-dir", str(tmp_path / "ship")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    from dexgrasp_env.models import load_policy

    meta = json.loads((tmp_path / "ship" / "tiny.json").read_text())
    assert meta["kind"] == "dagger" and meta["policy_keys"] == ["left", "right", "proprio"]
    assert meta["env_config"]["extra_obs"] == [] and meta["env_config"]["obs_mode"] == "stereo_rgb"
    assert meta["evaluation"]["episodes"] == 2
    import hashlib

    assert meta["sha256"] == hashlib.sha256((tmp_path / "ship" / "tiny.pt2").read_bytes()).hexdigest()
    assert meta["recipe"] == {"script": "algos/dagger.py", "name": None, "overrides": []} and meta["cpu"]
    assert meta["git_commit"] is None or len(meta["git_commit"]) >= 40
    program = load_policy((tmp_path / "ship" / "tiny.pt2").read_bytes())
    spaces = key_spaces(checkpoints.env_config(meta["env_config"]))
    obs = {k: torch.as_tensor(spaces[k].sample()[None].repeat(3, 0)) for k in meta["policy_keys"]}
    assert program(obs)[0].shape == (3, 11)


def test_depth_scratch_teacher_reads_its_own_view_inside_dagger():
    """DAgger of 64x64 stereo students from ``depth-scratch``: the depth the teacher reads in the DAgger task is
    the depth it reads in its own environment, on the same world and step (its own 32x32, 30-degree camera aimed
    at the goal box, not the students' camera)."""
    import dexgrasp_env as dg

    args = dagger.RECIPES["stereo-from-depth-scratch"][1]
    program, keys, teacher_cfg = dagger.load_teacher(args.teacher, "cpu")
    task = dagger.task_config(args, keys, teacher_cfg)
    assert task.sensors.stereo.width == 64 and task.sensors.depth == teacher_cfg.sensors.depth
    own = dataclasses.replace(teacher_cfg, randomization=task.randomization, episode_length_s=task.episode_length_s)
    envs = {name: gym.make_vec(dg.config.env_id_of(cfg), num_envs=3, config=cfg)
            for name, cfg in (("dagger", task), ("own", own))}
    obs = {name: env.reset(seed=4)[0] for name, env in envs.items()}
    for step in range(4):
        assert obs["dagger"]["left"].shape == (3, 3, 64, 64) and obs["own"]["depth"].shape == (3, 1, 32, 32)
        assert torch.equal(obs["dagger"]["depth"], obs["own"]["depth"]), step
        action = program({k: obs["own"][k] for k in keys})[0].clamp(-1, 1)
        obs = {name: env.step(action)[0] for name, env in envs.items()}
    for env in envs.values():
        env.close()
    # a student that would read the teacher's sensor through another view is refused, naming the sensor
    bad = dataclasses.replace(args, env_id="DexGrasp-Depth-v0")
    with pytest.raises(ValueError, match="both read sensor 'depth'"):
        dagger.task_config(bad, keys, teacher_cfg)
