"""algos/ppo.py: learning signal, image policies, checkpoints and resume, both layouts."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest
import torch

import dexgrasp_env  # noqa: F401
from dexgrasp_env.config import CameraConfig, EnvConfig, PoolConfig, RewardConfig
from dexgrasp_env.task import observation_space
from tests.algos.conftest import ROOT, load_script

ppo = load_script("ppo")


def small_args(tmp_path, **kw) -> "ppo.Args":
    env = kw.pop("env", EnvConfig(episode_length_s=1.5))
    pool = kw.pop("pool", PoolConfig())
    defaults = dict(num_envs=16, total_timesteps=16 * 16 * 2, run_dir=str(tmp_path), progress=False,
                    checkpoint_interval=1, init_log_std=-1.0, gamma=0.99)
    defaults.update(kw)
    return ppo.Args(env=env, pool=pool, **defaults)


def _returns(env_cfg, policy, episodes=32, seed=5) -> float:
    env = gym.make_vec("DexGrasp-State-v0", num_envs=episodes, config=env_cfg, autoreset_mode="disabled")
    obs, _ = env.reset(seed=seed)
    total, done = torch.zeros(episodes), torch.zeros(episodes, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    while not done.all():
        obs, reward, terminated, truncated, _ = env.step(policy(obs, gen))
        total += reward * ~done
        done |= terminated | truncated
    env.close()
    return total.mean().item()


def test_state_ppo_learns_beyond_random_and_untrained(tmp_path):
    """A real learning signal: the trained policy beats a random policy and its own initialisation."""
    reward = RewardConfig(lift=0.0, object_to_goal=0.0)  # the reaching part alone, so learning shows quickly
    args = small_args(tmp_path, num_envs=64, total_timesteps=64 * 16 * 40, checkpoint_interval=1000,
                      env=EnvConfig(episode_length_s=1.5, reward=reward))
    stats = ppo.main(args)
    assert stats["global_step"] == 64 * 16 * 40
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    cfg = ckpt["env_config"]
    spaces = dict(ppo.as_dict_space(observation_space(cfg)))
    trained = ppo.make_agent(args, cfg, spaces, "cpu")
    trained.load_state_dict(ckpt["agent"])
    torch.manual_seed(args.seed)
    untrained = ppo.make_agent(args, cfg, spaces, "cpu")

    def mean_action(agent):
        return lambda obs, gen: agent.dist({"state": obs}).mean.detach().clamp(-1, 1)

    r_trained = _returns(cfg, mean_action(trained))
    r_untrained = _returns(cfg, mean_action(untrained))
    r_random = _returns(cfg, lambda obs, gen: torch.rand(32, 23, generator=gen) * 2 - 1)
    print(f"mean episodic return: trained {r_trained:.2f}, untrained {r_untrained:.2f}, random {r_random:.2f}")
    assert r_trained > r_random + 10.0
    assert r_trained > r_untrained + 3.0


def test_depth_ppo_runs_three_updates(tmp_path):
    env = EnvConfig(episode_length_s=1.5, camera=CameraConfig(width=32, height=32))
    args = small_args(tmp_path, env_id="DexGrasp-Depth-v0", num_envs=8, total_timesteps=8 * 16 * 3, env=env)
    stats = ppo.main(args)
    assert stats["update"] == 3
    for value in stats["losses"].values():
        assert torch.isfinite(torch.tensor(value))
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert set(ckpt["policy_keys"]) == {"depth", "proprio"}
    assert "critic_enc.norms.state.mean" in ckpt["agent"]  # the asymmetric critic saw the privileged state


def test_exported_policy_loads_without_the_script(tmp_path):
    args = small_args(tmp_path, total_timesteps=16 * 16)
    ppo.main(args)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    import io

    policy = torch.export.load(io.BytesIO(ckpt["policy_export"])).module()
    agent = ppo.make_agent(args, ckpt["env_config"], dict(ppo.as_dict_space(observation_space(ckpt["env_config"]))),
                           "cpu")
    agent.load_state_dict(ckpt["agent"])
    for batch in (1, 5):
        obs = {"state": torch.randn(batch, 116)}
        mean, std = policy(obs)
        assert torch.allclose(mean, agent.dist(obs).mean, atol=1e-5) and mean.shape == (batch, 23) and (std > 0).all()


def test_kill_and_resume(tmp_path):
    """SIGKILL a run after a checkpoint; the resumed run continues the step count and optimiser state."""
    cmd = [sys.executable, os.path.join(ROOT, "algos", "ppo.py"), "--num-envs", "16", "--total-timesteps", "100000",
           "--checkpoint-interval", "1", "--run-dir", str(tmp_path), "--no-progress", "--env.episode-length-s", "1.5"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = tmp_path / "checkpoint.pt"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    if torch.load(path, weights_only=False)["update"] >= 2:
                        break
                except Exception:  # pragma: no cover - the writer is mid-rename
                    pass
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    saved = torch.load(path, weights_only=False)  # atomic writes: never a torn file
    assert saved["update"] >= 2 and saved["global_step"] == saved["update"] * 16 * 16

    # the restored state is the saved state
    args = small_args(tmp_path / "resumed", resume=str(path), total_timesteps=(saved["update"] + 1) * 16 * 16)
    cfg = saved["env_config"]
    agent = ppo.make_agent(args, cfg, dict(ppo.as_dict_space(observation_space(cfg))), "cpu")
    agent.load_state_dict(saved["agent"])
    for name, tensor in agent.state_dict().items():
        assert torch.equal(tensor, saved["agent"][name])
    stats = ppo.main(dataclasses.replace(args, env=cfg))
    assert stats["update"] == saved["update"] + 1
    assert stats["global_step"] == saved["global_step"] + 16 * 16
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    steps_per_update = args.update_epochs * args.num_minibatches
    adam_before = saved["optimizer"]["state"][0]["step"].item()
    assert resumed["optimizer"]["state"][0]["step"].item() == adam_before + steps_per_update


def test_disaggregated_and_in_process_first_rollout_match(tmp_path):
    """Same seed: two CPU workers and the in-process pool give the same rollout, hence the same update."""
    results = {}
    for name, devices in (("inprocess", None), ("workers", ("cpu", "cpu"))):
        args = small_args(tmp_path / name, num_envs=6, total_timesteps=6 * 16,
                          pool=PoolConfig(sim_devices=devices))
        ppo.main(args)
        results[name] = torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["agent"]
    for key, value in results["inprocess"].items():
        assert torch.equal(value, results["workers"][key]), key


def test_data_parallel_torchrun_keeps_ranks_identical(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "algos", "ppo.py"), "--layout", "data-parallel", "--num-envs", "8",
           "--total-timesteps", str(2 * 8 * 16 * 2), "--run-dir", str(tmp_path), "--no-progress",
           "--env.episode-length-s", "1.5"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "data-parallel replicas identical after 2 updates" in out.stdout
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["update"] == 2


def test_eval_checkpoint_reports_success_and_writes_video(tmp_path):
    args = small_args(tmp_path, total_timesteps=16 * 16)
    ppo.main(args)
    video = tmp_path / "episode.mp4"
    result = ppo.main(ppo.Args(eval_checkpoint=str(tmp_path / "checkpoint.pt"), eval_episodes=4,
                               eval_video=str(video), progress=False))
    assert 0.0 <= result["success_rate"] <= 1.0 and result["episodes"] == 4
    assert video.exists() and video.stat().st_size > 1000


def assert_every_flag_explained(help_text: str) -> None:
    """Each flag of a tyro --help is followed by a line of explanation."""
    import re

    blocks = re.split(r"\n│ (?=--[a-z0-9][\w.-]*[ ,])", help_text)[1:]
    for prev, block in zip([""] + blocks, blocks):
        if block.split("\n")[0].rstrip(" │").endswith(","):  # "--x, --no-x" spans two lines
            continue
        assert re.search(r"\n│\s{4,}[^\s-]", block), f"no explanation for {block.split()[0]}"


def test_cli_help_explains_every_flag():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "algos", "ppo.py"), "--help"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0
    for flag in ("--env-id", "--num-envs", "--total-timesteps", "--sim-devices", "--learner-device", "--seed",
                 "--resume", "--track", "--capture-video", "--eval-checkpoint", "--env.camera.width"):
        assert flag in out.stdout
    assert_every_flag_explained(out.stdout)
    with pytest.raises(ValueError, match="next_step"):
        ppo.main(ppo.Args(pool=PoolConfig(autoreset_mode="same_step")))
