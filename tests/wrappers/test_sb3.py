"""The Stable-Baselines3 adapter and Gymnasium's own vector wrappers."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import dexgrasp_env  # noqa: F401
from dexgrasp_env.config import CameraConfig
from dexgrasp_env.wrappers.sb3 import SB3VecEnv, make_sb3_env

CAM48 = CameraConfig(width=48, height=48)


def contains_batch(space, obs) -> bool:
    """SB3's observation_space is one environment's: check every row."""
    n = len(next(iter(obs.values())))
    return all(space.contains({k: v[i] for k, v in obs.items()}) for i in range(n))


def test_vecenv_checks_and_terminal_observation():
    """Spaces, dtypes, dones, infos; terminal_observation is the finished episode's true last obs."""
    kw = dict(camera=CAM48, episode_length_s=8 / 60, extra_obs=("state",))
    env = make_sb3_env("DexGrasp-Depth-v0", 3, **kw)
    ref = gym.make_vec("DexGrasp-Depth-v0", num_envs=3, numpy_obs=True, **kw)  # next_step reference
    assert env.observation_space["depth"].dtype == np.uint8 and env.observation_space["depth"].shape == (1, 48, 48)
    env.seed(11)
    obs = env.reset()
    ref_obs, _ = ref.reset(seed=11)
    assert contains_batch(env.observation_space, obs)
    assert np.array_equal(obs["state"], ref_obs["state"])
    for t in range(9):
        actions = np.random.default_rng(t).uniform(-1, 1, (3, *env.action_space.shape)).astype(np.float32)
        obs, rewards, dones, infos = env.step(actions)
        ref_obs, ref_rew, ref_term, ref_trunc, _ = ref.step(actions)
        assert rewards.dtype == np.float32 and rewards.shape == (3,) and dones.dtype == bool
        assert isinstance(infos, list) and len(infos) == 3
        assert contains_batch(env.observation_space, obs)
        if t < 7:
            assert not dones.any() and all(not i for i in infos)
            np.testing.assert_array_equal(rewards, ref_rew)
        if t == 7:  # the 8th step ended every episode (time-out): terminal obs = the reference's last obs
            assert dones.all()
            for i, info in enumerate(infos):
                assert info["TimeLimit.truncated"] is True
                np.testing.assert_array_equal(info["terminal_observation"]["state"], ref_obs["state"][i])
                np.testing.assert_array_equal(info["terminal_observation"]["depth"],
                                              env._obs({"depth": ref_obs["depth"][i]}, update=False)["depth"])
                assert info["episode"]["l"] == 8 and "is_success" in info
            assert not np.array_equal(obs["state"], ref_obs["state"])  # the returned obs is the reset one
        if t == 8:
            assert all(not i for i in infos)  # last step's entries were cleared
    assert env.get_attr("num_envs") == [3, 3, 3] and env.env_is_wrapped(gym.Wrapper) == [False] * 3
    env.set_attr("difficulty", 0.5)
    assert env.venv.difficulty == 0.5
    assert env.env_method("worker_pids") == [[], [], []]
    env.close()
    ref.close()


def test_normalized_depth_gives_the_object_contrast():
    """The object against the scene, as SB3's CNN receives it: where two worlds' depth differs by 2-10 cm
    (an object on the table in one, the table in the other), against the spread of the levels that
    did not change (the table's ramp, the arm, the misses). The metric map spends most of its levels
    on that fixed scene; the default per-pixel normalisation takes it away."""
    env = make_sb3_env("DexGrasp-Depth-v0", 16, camera=CAM48)
    for seed in range(4):  # the running statistics see a few resets
        env.seed(seed)
        encoded = env.reset()["depth"].astype(np.float32)
    env.close()
    metric_env = make_sb3_env("DexGrasp-Depth-v0", 16, camera=CAM48, depth_encoding="metric")
    metric_env.seed(3)
    metric = metric_env.reset()["depth"].astype(np.float32)
    raw = metric_env.venv.reset(seed=3)[0]["depth"]  # the same worlds in metres
    metric_env.close()
    diff = np.abs(raw[0::2] - raw[1::2])  # worlds 0/1, 2/3, ...: the object sits elsewhere
    moved, still = (diff >= 0.02) & (diff <= 0.10), diff < 0.002
    assert moved.sum() > 50

    def contrast(img):
        return np.median(np.abs(img[0::2] - img[1::2])[moved]) / img[0::2][still].std()

    print(f"object contrast over scene spread: normalized {contrast(encoded):.2f}, metric {contrast(metric):.2f}")
    assert contrast(encoded) >= 3 * contrast(metric)
    with pytest.raises(ValueError, match="depth_encoding='log'"):
        make_sb3_env("DexGrasp-Depth-v0", 1, camera=CAM48, depth_encoding="log")


def test_adapter_refuses_a_next_step_pool():
    venv = gym.make_vec("DexGrasp-State-v0", num_envs=2)
    with pytest.raises(ValueError, match="same_step"):
        SB3VecEnv(venv)
    venv.close()


def test_sb3_ppo_mlp_on_state_trains_and_logs_episodes():
    """SB3's PPO runs 512 steps on the adapter and its logger receives the episode statistics
    (that it learns is not claimed: 512 steps teach nothing here)."""
    from stable_baselines3 import PPO

    env = make_sb3_env("DexGrasp-State-v0", 4, episode_length_s=0.5)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(512)
    assert model.num_timesteps >= 512
    assert len(model.ep_info_buffer) > 0  # episode statistics reached SB3's logger
    assert {"r", "l"} <= set(model.ep_info_buffer[0])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))  # it updated
    env.close()


def test_sb3_ppo_multiinput_on_depth_trains_with_an_image_extractor():
    from stable_baselines3 import PPO

    env = make_sb3_env("DexGrasp-Depth-v0", 4, camera=CAM48, episode_length_s=0.5)
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    assert model.num_timesteps >= 512
    assert "depth" in model.policy.features_extractor.extractors
    env.close()


def test_gymnasium_vector_wrappers_on_same_step_pool(tmp_path):
    env = gym.make_vec("DexGrasp-State-v0", num_envs=3, autoreset_mode="same_step", numpy_obs=True,
                       episode_length_s=5 / 60, render_mode="rgb_array", render_width=32, render_height=32)
    env = gym.wrappers.vector.RecordVideo(env, str(tmp_path), episode_trigger=lambda e: e == 0,
                                          video_length=6, disable_logger=True)
    env = gym.wrappers.vector.NormalizeReward(env)
    env = gym.wrappers.vector.RecordEpisodeStatistics(env)
    obs, _ = env.reset(seed=0)
    seen = 0
    for _ in range(11):
        obs, reward, terminated, truncated, info = env.step(np.zeros((3, 11), dtype=np.float32))
        assert np.isfinite(reward).all()
        if "episode" in info:
            seen += int(info["_episode"].sum())
            assert (info["episode"]["l"][info["_episode"]] == 5).all()
        assert "episode_stats" in info  # the pool's own statistics live beside the wrapper's
    env.close()
    assert seen == 6
    assert list(tmp_path.glob("*.mp4"))


def test_package_imports_without_stable_baselines3():
    code = ("import sys; sys.modules['stable_baselines3'] = None\n"
            "import dexgrasp_env, dexgrasp_env.vector, dexgrasp_env.wrappers, dexgrasp_env.wrappers.video\n"
            "try:\n    import dexgrasp_env.wrappers.sb3\nexcept ImportError as e:\n    print('ImportError:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'dexgrasp[sb3]'" in out.stdout
