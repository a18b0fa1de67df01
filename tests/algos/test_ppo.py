"""algos/ppo.py: learning signal, image policies, safe checkpoints and resume, both layouts."""

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
from dexgrasp_env import checkpoints
from dexgrasp_env.config import CameraConfig, EnvConfig, PoolConfig, RewardConfig, SensorsConfig
from dexgrasp_env.evaluation import eval_config
from dexgrasp_env.models import load_policy
from dexgrasp_env.spaces import key_spaces
from tests.algos.conftest import ROOT, load_script

ppo = load_script("ppo")


def small_args(tmp_path, **kw) -> "ppo.Args":
    env = kw.pop("env", EnvConfig(episode_length_s=1.5))
    pool = kw.pop("pool", PoolConfig())
    defaults = dict(num_envs=16, total_timesteps=16 * 16 * 2, run_dir=str(tmp_path), progress=False,
                    checkpoint_interval=1, init_log_std=-1.0, gamma=0.99, eval_episodes=4)
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
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    cfg = checkpoints.env_config(ckpt["env_config"])
    trained = load_policy(ckpt["policy_export"])
    torch.manual_seed(args.seed)
    untrained = ppo.make_agent(args, cfg, key_spaces(cfg), "cpu").actor
    n = ppo.action_space(cfg).shape[0]

    def mean_action(policy):
        return lambda obs, gen: policy({"state": obs})[0].detach().clamp(-1, 1)

    r_trained = _returns(cfg, mean_action(trained))
    r_untrained = _returns(cfg, mean_action(untrained))
    r_random = _returns(cfg, lambda obs, gen: torch.rand(32, n, generator=gen) * 2 - 1)
    print(f"mean episodic return: trained {r_trained:.2f}, untrained {r_untrained:.2f}, random {r_random:.2f}")
    assert r_trained > r_random + 10.0
    assert r_trained > r_untrained + 3.0


def test_depth_ppo_runs_three_updates(tmp_path):
    env = EnvConfig(episode_length_s=1.5, sensors=SensorsConfig.static(CameraConfig(width=32, height=32)))
    args = small_args(tmp_path, env_id="DexGrasp-Depth-v0", num_envs=8, total_timesteps=8 * 16 * 3, env=env)
    stats = ppo.main(args)
    assert stats["update"] == 3
    for value in stats["losses"].values():
        assert torch.isfinite(torch.tensor(value))
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    assert set(ckpt["policy_keys"]) == {"depth", "proprio"}
    assert "critic_enc.norms.state.mean" in ckpt["agent"]  # the asymmetric critic saw the privileged state
    assert "actor.encoder.norms.state.mean" not in ckpt["agent"]  # the actor did not


def test_a_masked_depth_checkpoint_ships_with_its_two_input_channels(tmp_path):
    """benchmarks/ship_policy.py re-exports a PPO actor from its checkpoint: one trained with ``--depth-encoding
    masked`` (depth and its mask) must come back with the same weights, not a one-channel actor."""
    import ship_policy

    env = EnvConfig(episode_length_s=0.5, sensors=SensorsConfig.static(CameraConfig(width=32, height=32)))
    ppo.main(small_args(tmp_path, env_id="DexGrasp-Depth-v0", num_envs=4, total_timesteps=4 * 16, env=env,
                        depth_encoding="masked", eval_episodes=1))
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    shipped, trained = load_policy(ship_policy.compact_export(str(tmp_path / "checkpoint.pt"), ckpt)), \
        load_policy(ckpt["policy_export"])
    spaces = key_spaces(checkpoints.env_config(ckpt["env_config"]))
    obs = {k: torch.as_tensor(spaces[k].sample()[None].repeat(3, 0)) for k in ckpt["policy_keys"]}
    assert torch.equal(shipped(obs)[0], trained(obs)[0])


def test_exported_policy_loads_without_the_script(tmp_path):
    args = small_args(tmp_path, total_timesteps=16 * 16)
    ppo.main(args)
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    policy = load_policy(ckpt["policy_export"])
    cfg = checkpoints.env_config(ckpt["env_config"])
    agent = ppo.make_agent(args, cfg, key_spaces(cfg), "cpu")
    agent.load_state_dict(ckpt["agent"])
    dim = key_spaces(cfg)["state"].shape[0]
    for batch in (1, 5):
        obs = {"state": torch.randn(batch, dim)}
        mean, std = policy(obs)
        assert torch.allclose(mean, agent.actor(obs)[0], atol=1e-5) and mean.shape == (batch, 11) and (std > 0).all()


def test_checkpoints_refuse_pickled_objects(tmp_path):
    """A checkpoint is a file from the internet: one holding a pickled object of some class is refused."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoints.FORMAT, "kind": "ppo", "env_config": Payload()}, evil)
    for args in (ppo.Args(eval_checkpoint=str(evil), progress=False),
                 small_args(tmp_path / "run", resume=str(evil))):
        with pytest.raises(ValueError, match="more than tensors and plain data"):
            ppo.main(args)
    assert not marker.exists()


def test_kill_and_resume_continues_every_stream(tmp_path):
    """SIGKILL a run after a checkpoint; the resumed run continues the step count, the optimiser, the random
    number generators and every environment's episode stream (it does not start them over from the seed)."""
    cmd = [sys.executable, os.path.join(ROOT, "algos", "ppo.py"), "--num-envs", "16", "--total-timesteps", "100000",
           "--checkpoint-interval", "1", "--run-dir", str(tmp_path), "--no-progress", "--env.episode-length-s", "0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = tmp_path / "checkpoint.pt"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    if checkpoints.load(path)["update"] >= 3:
                        break
                except Exception:  # pragma: no cover - the writer is mid-rename
                    pass
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    saved = checkpoints.load(path)  # atomic writes: never a torn file
    assert saved["update"] >= 3 and saved["global_step"] == saved["update"] * 16 * 16
    episodes = saved["episodes"][0]
    assert (episodes >= 2 * saved["update"]).all()  # 6-step episodes: every env ended twice per update

    args = small_args(tmp_path / "resumed", resume=str(path), total_timesteps=(saved["update"] + 1) * 16 * 16,
                      env=EnvConfig(episode_length_s=0.1), checkpoint_interval=1000)
    stats = ppo.main(args)
    assert stats["update"] == saved["update"] + 1
    assert stats["global_step"] == saved["global_step"] + 16 * 16
    resumed = checkpoints.load(tmp_path / "resumed" / "checkpoint.pt")
    adam_before = saved["optimizer"]["state"][0]["step"].item()
    assert resumed["optimizer"]["state"][0]["step"].item() == adam_before + args.update_epochs * args.num_minibatches
    # the streams went on from where they were: one more update's worth of episodes on top of the saved ones
    assert (resumed["episodes"][0] >= episodes + 2).all()
    assert not torch.equal(resumed["rng"][0]["torch"], saved["rng"][0]["torch"])


def test_random_states_round_trip(tmp_path):
    import random

    import numpy as np

    state = checkpoints.rng_state()
    before = (torch.rand(3), np.random.rand(3), random.random())
    path = str(tmp_path / "rng.pt")
    checkpoints.save(path, {"rng": state})
    torch.rand(5), np.random.rand(5), random.random()
    checkpoints.set_rng_state(checkpoints.load(path)["rng"])
    after = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]


def test_reset_with_episode_counts_continues_the_streams():
    """What resume relies on: a reset with each environment's episode count draws the worlds that an
    uninterrupted run would have drawn next, not the seed's first ones."""
    env = gym.make_vec("DexGrasp-State-v0", num_envs=3, episode_length_s=3 / 60)
    first, _ = env.reset(seed=11)
    for _ in range(4):  # three steps, then the next_step reset: every env starts its second episode
        obs, *_ = env.step(torch.zeros(3, 11))
    continued, _ = env.reset(seed=11, options={"episodes": torch.ones(3, dtype=torch.int64)})
    assert torch.equal(continued, obs) and not torch.equal(continued, first)
    with pytest.raises(ValueError, match="episodes must be non-negative integers"):
        env.reset(seed=11, options={"episodes": torch.ones(3)})
    env.close()


def test_disaggregated_and_in_process_first_rollout_match(tmp_path):
    """Same seed: two CPU workers and the in-process pool give the same rollout, hence the same update."""
    results = {}
    for name, devices in (("inprocess", None), ("workers", ("cpu", "cpu"))):
        args = small_args(tmp_path / name, num_envs=6, total_timesteps=6 * 16,
                          pool=PoolConfig(sim_devices=devices))
        ppo.main(args)
        results[name] = checkpoints.load(tmp_path / name / "checkpoint.pt")["agent"]
    for key, value in results["inprocess"].items():
        assert torch.equal(value, results["workers"][key]), key


def test_data_parallel_torchrun_keeps_ranks_identical(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "algos", "ppo.py"), "--layout", "data-parallel", "--num-envs", "8",
           "--total-timesteps", str(2 * 8 * 16 * 2), "--run-dir", str(tmp_path), "--no-progress",
           "--env.episode-length-s", "1.5", "--eval-episodes", "4"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "data-parallel replicas identical after 2 updates" in out.stdout
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    assert ckpt["update"] == 2
    ranks = ckpt["rng"]  # each rank's own exploration noise, saved to be continued
    assert len(ranks) == 2 and not torch.equal(ranks[0]["torch"], ranks[1]["torch"])


def test_eval_checkpoint_reports_success_and_writes_video(tmp_path):
    args = small_args(tmp_path, total_timesteps=16 * 16)
    ppo.main(args)
    video = tmp_path / "episode.mp4"
    result = ppo.main(ppo.Args(eval_checkpoint=str(tmp_path / "checkpoint.pt"), eval_episodes=4,
                               eval_video=str(video), progress=False))
    assert result["episodes"] == 4 and {"success_rate", "lifted_rate", "mean_return"} <= set(result)
    assert result["mean_length"] > 0
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
                 "--resume", "--track", "--capture-video", "--eval-checkpoint", "--env.sensors.depth.width",
                 "--env.backend", "--env.action-mode", "--time-limit-s"):
        assert flag in out.stdout
    assert_every_flag_explained(out.stdout)
    with pytest.raises(ValueError, match="next_step"):
        ppo.main(ppo.Args(pool=PoolConfig(autoreset_mode="same_step")))


def test_scripts_take_sizes_from_the_spaces():
    for name in ("ppo", "dagger"):
        with open(os.path.join(ROOT, "algos", f"{name}.py")) as f:
            text = f.read()
        assert "23" not in text and "116" not in text, name
    assert dataclasses.is_dataclass(ppo.Args)


def test_adr_trains_towards_the_full_ranges_and_evaluates_at_them(tmp_path):
    """--adr: the full ranges, widened by the curriculum from nominal; evaluation worlds at the full ranges."""
    from dexgrasp_env.config import RandomizationConfig
    from dexgrasp_env.vector.pool import make_vector_env

    cfg = ppo.env_config(small_args(tmp_path, adr=True))
    full = RandomizationConfig.full()
    assert cfg.randomization.curriculum.enabled
    assert dataclasses.replace(cfg.randomization, curriculum=full.curriculum) == full
    train = make_vector_env(2, config=cfg)
    evaluation = make_vector_env(2, config=eval_config(cfg))
    assert train.difficulty == 0.0 and evaluation.difficulty == 1.0
    train.close()
    evaluation.close()


def test_aux_head_learns_where_the_object_is(tmp_path):
    """--aux-coef: the actor's features learn the object's position from the depth image.

    The target is the object position under the critic's normalisation, so predicting its mean scores
    about 3 (one per axis); an untrained head (or one whose loss never reaches the optimiser) stays there.
    """
    env = EnvConfig(episode_length_s=1.5, sensors=SensorsConfig.static(CameraConfig(width=32, height=32, fovy=30.0)))
    args = small_args(tmp_path, env_id="DexGrasp-Depth-v0", num_envs=64, total_timesteps=64 * 16 * 8, env=env,
                      aux_coef=1.0, checkpoint_interval=1000, bf16=True)
    stats = ppo.main(args)
    print(f"auxiliary loss after 8 updates: {stats['losses']['aux']:.3f} (predicting the mean: about 3)")
    assert stats["losses"]["aux"] < 1.5
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    assert "aux.weight" in ckpt["agent"] and not any(k.startswith("aux") for k in ckpt["policy_keys"])
    with pytest.raises(ValueError, match="--aux-coef 1.0 needs the privileged state"):
        ppo.main(dataclasses.replace(args, asymmetric_critic=False))


def test_aux_blocks_choose_what_the_head_predicts(tmp_path):
    """--aux-blocks: the head predicts those blocks of the privileged state (normalised by the critic's
    statistics), in order; an unknown name is refused with the task's block names."""
    from dexgrasp_env.spaces import state_slices

    env = EnvConfig(sensors=SensorsConfig.static(CameraConfig(width=16, height=16)))
    args = small_args(tmp_path, env_id="DexGrasp-Depth-v0", env=env, aux_coef=1.0,
                      aux_blocks=("object_size", "object_pos"))
    args, _, cfg = ppo.training_task(args)
    agent = ppo.make_agent(args, cfg, key_spaces(cfg), "cpu")
    assert agent.aux.weight.shape == (3 + 3, agent.actor.encoder.out_dim)
    blocks = state_slices(cfg)
    state = torch.randn(5, key_spaces(cfg)["state"].shape[0])
    norm = agent.critic_enc.norms["state"]
    norm.update(torch.randn(64, state.shape[1]) * 3.0 + 1.0)
    expected = torch.cat([state[:, blocks[b]] for b in args.aux_blocks], 1)
    idx = torch.cat([torch.arange(blocks[b].start, blocks[b].stop) for b in args.aux_blocks])
    expected = ((expected - norm.mean[idx]) / torch.sqrt(norm.var[idx] + 1e-8)).clamp(-5.0, 5.0)
    torch.testing.assert_close(agent.aux_target({"state": state}), expected)
    with pytest.raises(ValueError, match=r"\['object_spin'\]; expected blocks of this task's privileged state"):
        ppo.make_agent(dataclasses.replace(args, aux_blocks=("object_pos", "object_spin")), cfg, key_spaces(cfg),
                       "cpu")


def test_aux_input_feeds_the_actor_an_estimate_only_the_aux_loss_trains(tmp_path):
    """--aux-input: the actor's MLP reads the auxiliary estimate of the object's position; the policy's gradient
    does not reach the estimate's head (detached), the auxiliary loss's does; the exported policy makes it too."""
    from dexgrasp_env.models import export_policy

    env = EnvConfig(sensors=SensorsConfig.static(CameraConfig(width=16, height=16)))
    args = small_args(tmp_path, env_id="DexGrasp-Depth-v0", env=env, aux_coef=1.0, aux_input=True)
    args, _, cfg = ppo.training_task(args)
    spaces = key_spaces(cfg)
    agent = ppo.make_agent(args, cfg, spaces, "cpu")
    gen = torch.Generator().manual_seed(0)
    obs = {k: torch.rand((6, *sp.shape), generator=gen) for k, sp in spaces.items()}
    estimator = agent.actor.encoder.estimator
    assert agent.aux is None and estimator.out_features == 3
    _, logp, _, _, aux = agent.get_action_and_value(obs, torch.zeros(6, 11))
    logp.sum().backward(retain_graph=True)
    assert estimator.weight.grad is None or not estimator.weight.grad.any()  # the policy's gradient stops there
    assert agent.actor.encoder.images["depth"].proj[0].weight.grad.any()  # (but still shapes the image features)
    ((aux - agent.aux_target(obs)) ** 2).sum(-1).mean().backward()
    assert estimator.weight.grad.any()
    mean = agent.actor(obs)[0].detach()
    with torch.no_grad():
        estimator.bias += 1.0
    assert not torch.allclose(agent.actor(obs)[0], mean)  # the MLP reads the estimate
    keys = agent.actor.encoder.keys
    exported = load_policy(export_policy(agent.actor, keys, obs))
    torch.testing.assert_close(exported({k: obs[k] for k in keys})[0], agent.actor(obs)[0].detach())
    with pytest.raises(ValueError, match="--aux-input trains its estimate with the auxiliary loss"):
        ppo.make_agent(dataclasses.replace(args, aux_coef=0.0), cfg, spaces, "cpu")


def test_update_epochs_switch_once_the_training_episodes_lift(tmp_path):
    """--update-epochs-after-lift: epochs per update change when the window of training episodes has lifted, not
    before the window is full, and the switch is kept in the checkpoint (a resumed run does not switch back)."""
    window, updates, before, after = ppo.LIFT_WINDOW, ppo.LIFT_WINDOW + 2, 3, 1
    args = small_args(tmp_path, init_actor="state-teacher", update_epochs=before, update_epochs_after_lift=after,
                      total_timesteps=16 * 16 * updates, checkpoint_interval=1000)
    ppo.main(args)
    ckpt = checkpoints.load(tmp_path / "checkpoint.pt")
    assert ckpt["lifted_at"] == 16 * 16 * window  # the shipped teacher lifts: at the first full window
    steps = ckpt["optimizer"]["state"][0]["step"].item()
    assert steps == args.num_minibatches * (window * before + (updates - window) * after)
    # resumed for one update: still `after` epochs, with no window of its own yet
    ppo.main(dataclasses.replace(args, resume=str(tmp_path / "checkpoint.pt"), run_dir=str(tmp_path / "resumed"),
                                 total_timesteps=16 * 16 * (updates + 1)))
    resumed = checkpoints.load(tmp_path / "resumed" / "checkpoint.pt")
    assert resumed["optimizer"]["state"][0]["step"].item() == steps + args.num_minibatches * after
    with pytest.raises(ValueError, match="--update-epochs-after-lift 0 must be at least 1"):
        ppo.main(dataclasses.replace(args, update_epochs_after_lift=0))
