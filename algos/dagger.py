"""DAgger distillation of a teacher (a PPO checkpoint, or the shipped one) into a student (stereo RGB by default).

The student acts; the teacher labels every step it takes, from the teacher's own view of the same
world rendered in the same step (the environment's extra observation keys, each teacher sensor with the
configuration it was trained with). Online, with a replay buffer of recent (student observation, teacher
label) pairs that every update mixes with the fresh ones (the paper's resampling).

Every shipped student's distillation is a named recipe (``RECIPES`` at the end of this file; ``--help`` lists
them); flags after the name override it:

    python algos/dagger.py stereo-student                  # StereoRGB from the State teacher: 35 min on 2 CPU cores
    python algos/dagger.py depth-student                   # Depth from state-teacher-v1 (then ppo.py depth-teacher)
    python algos/dagger.py stereo-from-depth-scratch       # StereoRGB from the end-to-end depth policy's own view
    python algos/dagger.py --teacher runs/<ppo run>/checkpoint.pt --env-id DexGrasp-StereoRGB-v0 \
        --num-envs 1024 --sim-devices cuda:1 cuda:2 --learner-device cuda:0      # no recipe: your flags
    python algos/dagger.py --eval-checkpoint runs/<dagger run>/checkpoint.pt
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Annotated, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from tqdm import tqdm

import dexgrasp_env
from dexgrasp_env import checkpoints
from dexgrasp_env.actions import action_space
from dexgrasp_env.compatibility import check_task, with_policy_view
from dexgrasp_env.config import ENV_IDS, CameraConfig, EnvConfig, PoolConfig, RandomizationConfig, SensorsConfig
from dexgrasp_env.evaluation import eval_config, run_episodes
from dexgrasp_env.models import GaussianActor, ObsEncoder, bf16_images, export_policy, load_policy
from dexgrasp_env.recipes import recipe_cli
from dexgrasp_env.runs import RunLog
from dexgrasp_env.sensors import sensors_of_keys
from dexgrasp_env.spaces import STATE_SLICES, as_dict, key_spaces, layout_slices, obs_groups, proprio_layout


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (the run folder is runs/<env-id>__<exp-name>__<seed>__<time>)"""
    teacher: str | None = None
    """the teacher: a checkpoint of algos/ppo.py, or the name of a shipped policy (`state-teacher`)"""
    env_id: Literal["DexGrasp-State-v0", "DexGrasp-Depth-v0", "DexGrasp-StereoRGB-v0", "DexGrasp-WristDepth-v0"] = (
        "DexGrasp-StereoRGB-v0")
    """what the student sees"""
    num_envs: int = 64
    """environments across the pool"""
    seed: int = 1
    """seed of the environments, the student and the sampling"""
    total_timesteps: int = 1_000_000
    """environment steps to distil for"""
    time_limit_s: float | None = None
    """stop after this much wall-clock time (seconds), with a final checkpoint and evaluation"""
    use_teacher_task: bool = True
    """take the task (physics, randomization, action mode) from the teacher; --env.sensors still sets the student's
    sensors (the teacher's keep their own configuration)"""
    env: EnvConfig = field(default_factory=EnvConfig)
    """the task (with --no-use-teacher-task; its observation mode comes from --env-id)"""
    pool: Annotated[PoolConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=PoolConfig)
    """where the environments run (--sim-devices, --learner-device, ...)"""
    num_steps: int = 16
    """steps per environment between updates"""
    updates_per_iteration: int = 8
    """gradient steps after each collection"""
    minibatch_size: int = 1024
    """samples per gradient step"""
    fresh_fraction: float = 0.5
    """share of each minibatch drawn from the newest rollout; the rest is resampled from the replay buffer"""
    replay_size: int = 65536
    """transitions kept in the replay buffer (images stored as uint8)"""
    learning_rate: float = 3e-4
    """Adam learning rate"""
    max_grad_norm: float = 1.0
    """gradient norm clip"""
    teacher_mix: float = 0.0
    """probability that an environment executes the teacher's action at the start (DAgger's beta)"""
    teacher_mix_steps: int = 100_000
    """environment steps over which that probability decays linearly to 0"""
    logstd_coef: float = 1.0
    """weight of the L2 between the student's and the teacher's log standard deviations"""
    aux_coef: float = 1.0
    """weight of the auxiliary object-position loss"""
    bf16: bool = False
    """run the student's image encoders under bf16 autocast (their convolutions are the learner's cost; 1.5-2x
    faster on a CPU with AVX512-BF16 or AMX, and on CUDA; on a CPU without native bf16 they stay float32, with a
    warning: `dexgrasp_env.models.bf16_images`); the rest stays float32, as do the checkpoints and the exported
    student"""
    heldout_envs: int = 16
    """environments (every shape in turn, seeds no training world uses) that the teacher runs for one whole
    episode; every `heldout-stride`-th of their steps, labelled by the teacher, measures the held-out action
    error: reaching, grasping, lifting and holding states alike"""
    heldout_stride: int = 8
    """keep every this many steps of the held-out episodes"""
    student_last_action: bool = False
    """let the student see its own last action (the last block of `proprio`); hidden by default, because a
    student whose visual features are still weak can copy it (the teacher's actions are smooth) instead of
    looking at the images: the copycat problem of imitation learning"""
    eval_interval: int = 50
    """iterations between evaluations (student and teacher on the same worlds) and checkpoints"""
    eval_episodes: int = 128
    """episodes per evaluation (one environment each; shapes assigned in turn)"""
    resume: str | None = None
    """checkpoint to continue from: student, optimiser, step counts, every random stream"""
    run_dir: str | None = None
    """where logs and checkpoints go (default: runs/<run name>)"""
    track: bool = False
    """log to Weights & Biases as well (needs `pip install wandb`)"""
    wandb_project_name: str = "dexgrasp"
    """the W&B project"""
    eval_checkpoint: str | None = None
    """evaluate this student checkpoint instead of training"""
    eval_video: str | None = None
    """MP4 path for the evaluation episode (default: next to the checkpoint)"""
    progress: bool = True
    """show a progress bar"""
    recipe: tyro.conf.Suppress[str | None] = None
    """the recipe these arguments came from (set by the command line; recorded in checkpoints)"""
    overrides: tyro.conf.Suppress[tuple[str, ...]] = ()
    """the flags given after the recipe (recorded in checkpoints)"""


# ------------------------------------------------------------------------------------------------
# Student, replay buffer, loss
# ------------------------------------------------------------------------------------------------
class Student(nn.Module):
    """A Gaussian actor on the student's keys (stereo pairs share one trunk) and an auxiliary head
    that predicts the object position from the same features."""

    def __init__(self, spaces: dict, keys, n_actions: int, hide: dict | None = None):
        super().__init__()
        self.actor = GaussianActor(ObsEncoder(spaces, keys, hide=hide), n_actions)
        self.aux = nn.Linear(self.actor.encoder.out_dim, 3)

    def forward(self, obs: dict):
        """``(action mean, action std, predicted object position)``: the exported actor's head on the same features."""
        z = self.actor.encoder(obs)
        return *self.actor.head(z), self.aux(z)


class ReplayBuffer:
    """A ring buffer of (student observation, teacher label) pairs on the learner device.

    Allocated once; writing past the end wraps around and overwrites the oldest entries.
    """

    def __init__(self, capacity: int, spec: dict, device):
        self.capacity, self.device = capacity, device
        self.data = {k: torch.zeros((capacity, *shape), dtype=dtype, device=device)
                     for k, (shape, dtype) in spec.items()}
        self.pos, self.size = 0, 0

    def add(self, batch: dict) -> None:
        n = next(iter(batch.values())).shape[0]
        idx = (self.pos + torch.arange(n, device=self.device)) % self.capacity
        for k, v in batch.items():
            self.data[k][idx] = v
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample_indices(self, n: int) -> torch.Tensor:
        if n == 0:
            return torch.zeros(0, dtype=torch.int64, device=self.device)
        return torch.randint(0, self.size, (n,), device=self.device)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.data.values())


def mixed_minibatch(fresh: dict, replay: ReplayBuffer, size: int, fresh_fraction: float) -> tuple[dict, torch.Tensor]:
    """A minibatch of ``fresh_fraction`` samples from ``fresh`` and the rest from the replay buffer.

    Returns the batch and a bool tensor marking the fresh rows.
    """
    n_fresh = size if replay.size == 0 else int(round(size * fresh_fraction))
    n_fresh_avail = next(iter(fresh.values())).shape[0]
    fi = torch.randint(0, n_fresh_avail, (n_fresh,), device=replay.device)
    ri = replay.sample_indices(size - n_fresh)
    batch = {k: torch.cat([fresh[k][fi], replay.data[k][ri]]) for k in fresh}
    origin = torch.cat([torch.ones(n_fresh, dtype=torch.bool, device=replay.device),
                        torch.zeros(size - n_fresh, dtype=torch.bool, device=replay.device)])
    return batch, origin


def distillation_loss(mean, std, aux, t_mean, t_std, target, args: Args) -> tuple[torch.Tensor, dict]:
    """Teacher-inverse-variance-weighted L2 on the means, L2 on the log-stds, auxiliary L2."""
    action = (((mean - t_mean) / t_std) ** 2).mean()
    logstd = ((std.log() - t_std.log()) ** 2).mean()
    aux_loss = ((aux - target) ** 2).sum(-1).mean()
    total = action + args.logstd_coef * logstd + args.aux_coef * aux_loss
    return total, {"action": action, "logstd": logstd, "aux": aux_loss, "mse": ((mean - t_mean) ** 2).mean()}


# ------------------------------------------------------------------------------------------------
# Setup helpers
# ------------------------------------------------------------------------------------------------
def load_teacher(name: str, device):
    """A ppo.py checkpoint or a shipped policy: ``(policy obs -> (mean, std), its keys, its task)``."""
    if not os.path.exists(name):
        policy, cfg = dexgrasp_env.load_pretrained(name, device=device)
        return policy.program, policy.keys, cfg
    ckpt = checkpoints.load(name)
    if ckpt.get("kind") != "ppo":
        raise ValueError(f"{name} is not a checkpoint of algos/ppo.py (kind {ckpt.get('kind')!r})")
    cfg = checkpoints.env_config(ckpt["env_config"])
    return load_policy(ckpt["policy_export"], device), tuple(ckpt["policy_keys"]), cfg


def task_config(args: Args, teacher_keys, teacher_cfg: EnvConfig) -> EnvConfig:
    """The student's task: the teacher's (or --env's), the student's observation mode and sensors (--env.sensors),
    and as extra keys the teacher's view and the state (the auxiliary target), rendered in the same step. The
    teacher's sensors keep the configuration it was trained with (a 32x32, 30-degree depth teacher labels from
    exactly that view for 64x64 stereo students)."""
    base = dataclasses.replace(teacher_cfg, sensors=args.env.sensors) if args.use_teacher_task else args.env
    mode = ENV_IDS[args.env_id]
    student_keys = dataclasses.replace(base, obs_mode=mode, extra_obs=()).policy_keys()
    shared = [s.name for s in sensors_of_keys(student_keys) if s in sensors_of_keys(teacher_keys)
              and getattr(base.sensors, s.name) != getattr(teacher_cfg.sensors, s.name)]
    if shared:
        name = shared[0]
        raise ValueError(f"the student and the teacher both read sensor {name!r}, with different configurations "
                         f"(student {getattr(base.sensors, name)}, teacher {getattr(teacher_cfg.sensors, name)}): "
                         f"one sensor renders one view; give the student the teacher's or another sensor")
    extra = tuple(dict.fromkeys(k for k in (*teacher_keys, "state") if k not in student_keys and k != "proprio"))
    cfg = with_policy_view(dataclasses.replace(base, obs_mode=mode, extra_obs=extra), teacher_cfg, teacher_keys)
    check_task(teacher_cfg, cfg, teacher_keys, who="the teacher")
    return cfg


def heldout_set(args: Args, cfg: EnvConfig, teacher, teacher_keys, student_keys, device) -> dict:
    """Student observations and teacher labels along whole teacher episodes on worlds no training env sees.

    The teacher acts, so the set holds what a good student meets: reaching, closing the hand, lifting
    and holding at the goal, not only the first steps of an episode.
    """
    env = gym.make_vec(args.env_id, num_envs=args.heldout_envs, config=eval_config(cfg, keep_extra=True),
                       learner_device=str(device))
    obs, _ = env.reset(seed=args.seed + 10_000)
    rows = []
    for t in range(cfg.max_episode_steps):
        obs = as_dict(obs)
        with torch.no_grad():
            t_mean, _ = teacher({k: obs[k] for k in teacher_keys})
        if t % args.heldout_stride == 0:
            rows.append({k: obs[k].clone() for k in student_keys} | {"t_mean": t_mean})
        obs, *_ = env.step(t_mean.clamp(-1, 1))
    env.close()
    return {k: torch.cat([r[k] for r in rows]) for k in rows[0]}


# ------------------------------------------------------------------------------------------------
def main(args: Args) -> dict:
    # ---- setup ----------------------------------------------------------------------------------------
    if args.pool.autoreset_mode != "next_step" or args.pool.numpy_obs:
        raise ValueError("dagger.py needs torch observations and next_step autoreset")
    device = torch.device(args.pool.learner_device)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    if args.eval_checkpoint:
        ckpt = checkpoints.load(args.eval_checkpoint, device)
        cfg = checkpoints.env_config(ckpt["env_config"])
        student = load_policy(ckpt["policy_export"], device)
        act = lambda o: student({k: o[k] for k in ckpt["student_keys"]})[0]  # noqa: E731
        video = args.eval_video or os.path.join(os.path.dirname(args.eval_checkpoint), "student.mp4")
        eval_cfg = eval_config(cfg, keep_extra=True)
        result = run_episodes(act, eval_cfg, args.eval_episodes, args.seed + 100_003, device)
        run_episodes(act, eval_cfg, 1, args.seed, device, video)
        result = {f"student_{k}": v for k, v in result.items()} | {"video": video}
        print(json.dumps(result))
        return result
    if args.teacher is None:
        raise ValueError("--teacher is required: a checkpoint of algos/ppo.py or a shipped policy name")
    teacher, teacher_keys, teacher_cfg = load_teacher(args.teacher, device)
    cfg = task_config(args, teacher_keys, teacher_cfg)
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, config=cfg, pool=args.pool)
    spaces = key_spaces(cfg)
    student_keys = obs_groups(cfg)["policy"]
    n_actions = action_space(cfg).shape[0]
    hide = None if args.student_last_action or "proprio" not in student_keys else {
        "proprio": layout_slices(proprio_layout(cfg))["last_action"]}
    student = Student(spaces, student_keys, n_actions, hide).to(device)
    if args.bf16:
        bf16_images([student.actor.encoder], device)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.learning_rate)
    global_step, start_iteration, wall_offset, curve = 0, 1, 0.0, []
    episodes_done = torch.zeros(args.num_envs, dtype=torch.int64, device=device)
    if args.resume:
        ckpt = checkpoints.load(args.resume, device)
        student.load_state_dict(ckpt["student"])
        optimizer.load_state_dict(ckpt["optimizer"])
        global_step, start_iteration = ckpt["global_step"], ckpt["iteration"] + 1
        wall_offset, curve = ckpt["wall_time"], ckpt["curve"]
        checkpoints.set_rng_state(ckpt["rng"])
        episodes_done = ckpt["episodes"].to(device)

    # ---- replay buffer (uint8 images) and a held-out set labelled by the teacher -------------------
    spec = {k: (spaces[k].shape, torch.uint8 if spaces[k].dtype == np.uint8 else torch.float32) for k in student_keys}
    spec.update(t_mean=((n_actions,), torch.float32), t_std=((n_actions,), torch.float32),
                target=((3,), torch.float32))
    replay = ReplayBuffer(args.replay_size, spec, device)
    heldout = heldout_set(args, cfg, teacher, teacher_keys, student_keys, device)

    run = RunLog(args)  # the run's folder: tensorboard, W&B, summary.json
    run_dir, writer = run.dir, run.writer
    print(f"replay buffer: {args.replay_size} transitions, {replay.nbytes() / 2**20:.1f} MiB on {device}")
    writer.add_scalar("charts/replay_buffer_mib", replay.nbytes() / 2**20, 0)

    def heldout_error() -> float:
        with torch.no_grad():
            return ((student({k: heldout[k] for k in student_keys})[0] - heldout["t_mean"]) ** 2).mean().item()

    def evaluate(iteration: int, wall: float) -> dict:
        """Student and teacher on the same worlds (the same seed every time: comparable along the curve)."""
        seed, point = args.seed + 100_003, {"global_step": global_step, "iteration": iteration,
                                            "wall_time_s": round(wall, 1)}
        for who, policy in (("student", lambda o: student({k: o[k] for k in student_keys})[0]),
                            ("teacher", lambda o: teacher({k: o[k] for k in teacher_keys})[0])):
            result = run_episodes(policy, eval_config(cfg, keep_extra=True), args.eval_episodes, seed, device)
            for metric in ("success_rate", "lifted_rate", "mean_return"):
                point[f"{who}_{metric}"] = result[metric]
                writer.add_scalar(f"eval/{who}_{metric}", result[metric], global_step)
        return point

    def checkpoint(iteration: int, wall: float, example_obs: dict) -> None:
        checkpoints.save(os.path.join(run_dir, "checkpoint.pt"), {
            "kind": "dagger", "student": student.state_dict(), "optimizer": optimizer.state_dict(),
            "global_step": global_step, "iteration": iteration, "wall_time": wall, "curve": curve, "args": args,
            "env_config": cfg, "student_keys": student_keys, "rng": checkpoints.rng_state(),
            "episodes": episodes_done.cpu(),
            "policy_export": export_policy(student.actor, student_keys, example_obs)})

    # ---- distil ----------------------------------------------------------------------------------------
    T, N = args.num_steps, args.num_envs
    iterations = max(1, args.total_timesteps // (T * N))
    obs, _ = envs.reset(seed=args.seed, options={"episodes": episodes_done})
    obs = as_dict(obs)
    if not args.resume:
        student.actor.encoder.update_norms(obs)
    resetting = torch.zeros(N, dtype=torch.bool, device=device)
    bar = tqdm(range(start_iteration, iterations + 1), disable=not args.progress, desc="dagger", unit="it")
    start_time, start_step = time.time(), global_step
    initial_heldout = heldout_error()
    writer.add_scalar("distill/heldout_action_mse", initial_heldout, global_step)
    stats: dict = {}
    for iteration in bar:
        fresh = {k: [] for k in spec}
        ep = torch.zeros(3, device=device)  # finished episodes, successes, lifts
        for _ in range(T):
            global_step += N
            with torch.no_grad():
                t_mean, t_std = teacher({k: obs[k] for k in teacher_keys})
                s_mean = student(obs)[0]
            keep = ~resetting  # the step after an episode end only resets: no label to learn
            for k in student_keys:
                fresh[k].append(obs[k][keep])
            fresh["t_mean"].append(t_mean[keep])
            fresh["t_std"].append(t_std[keep])
            fresh["target"].append(obs["state"][:, STATE_SLICES["object_pos"]][keep])
            beta = args.teacher_mix * max(0.0, 1.0 - global_step / max(1, args.teacher_mix_steps))
            use_teacher = torch.rand(N, device=device) < beta
            action = torch.where(use_teacher.unsqueeze(1), t_mean, s_mean).clamp(-1.0, 1.0)
            obs, _, terminated, truncated, info = envs.step(action)
            obs = as_dict(obs)
            resetting = terminated | truncated
            episodes_done += resetting
            ended = info["_episode_stats"].float()
            ep += torch.stack([ended.sum(), (info["episode_stats"]["success"] * ended).sum(),
                               (info["episode_stats"]["lifted"] * ended).sum()])
        fresh = {k: torch.cat(v) for k, v in fresh.items()}
        student.actor.encoder.update_norms(fresh)
        # ---- updates on fresh + resampled pairs -------------------------------------------------------
        for _ in range(args.updates_per_iteration):
            batch, _ = mixed_minibatch(fresh, replay, args.minibatch_size, args.fresh_fraction)
            mean, std, aux = student({k: batch[k] for k in student_keys})
            loss, parts = distillation_loss(mean, std, aux, batch["t_mean"], batch["t_std"], batch["target"], args)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), args.max_grad_norm)
            optimizer.step()
        replay.add(fresh)

        # ---- logging, evaluation, checkpoints -------------------------------------------------------
        wall = wall_offset + time.time() - start_time
        held = heldout_error()
        n_ep, n_succ, n_lift = ep.tolist()
        sps = int((global_step - start_step) / (time.time() - start_time))
        stats = {"global_step": global_step, "iteration": iteration, "heldout_action_mse": held, "sps": sps,
                 "wall_time_s": round(wall, 1), **{f"loss_{k}": v.item() for k, v in parts.items()}}
        if n_ep:
            stats.update(student_success_rate_train=n_succ / n_ep, student_lifted_rate_train=n_lift / n_ep)
        for k, v in stats.items():
            if k not in ("global_step", "iteration"):
                writer.add_scalar(f"distill/{k}", v, global_step)
        writer.add_scalar("charts/teacher_mix", beta, global_step)
        bar.set_postfix(heldout=f"{held:.4f}", aux=f"{stats['loss_aux']:.4f}", sps=sps)
        out_of_time = args.time_limit_s is not None and wall >= args.time_limit_s
        if iteration % args.eval_interval == 0 or iteration == iterations or out_of_time:
            if args.eval_episodes > 0:
                curve.append(evaluate(iteration, wall))
                stats.update(curve[-1])
            checkpoint(iteration, wall, obs)
        if out_of_time:
            break
    envs.close()
    stats.update(run_dir=run_dir, replay_mib=replay.nbytes() / 2**20, initial_heldout_action_mse=initial_heldout)
    run.close(stats, curve)
    stats["curve"] = curve
    return stats


# ------------------------------------------------------------------------------------------------
# Recipes: the distillation behind every shipped student
# ------------------------------------------------------------------------------------------------
COMPARISON_TASK = EnvConfig(
    episode_length_s=4.0, sensors=SensorsConfig(stereo=CameraConfig(width=64, height=64)),
    randomization=RandomizationConfig(light_scale=(0.5, 1.5), color_noise=0.15))
"""The stereo students' task (the teachers' 4 s episodes; 64x64 stereo pair; lights and colours randomised)."""
STEREO = dict(env_id="DexGrasp-StereoRGB-v0", use_teacher_task=False, num_envs=128, updates_per_iteration=24,
              minibatch_size=512, bf16=True, total_timesteps=3_000_000, time_limit_s=2100, eval_interval=30,
              eval_episodes=32)
"""The stereo students' DAgger settings."""
RECIPES = {
    "stereo-student": (
        "StereoRGB student of the State teacher (state-teacher), 35 min on 2 CPU cores (shipped: stereo-student)",
        Args(teacher="state-teacher", env=dataclasses.replace(COMPARISON_TASK, object_features="points"),
             run_dir="runs/stereo-student", **STEREO)),
    "stereo-from-depth-scratch": (
        "StereoRGB student of the end-to-end depth policy (depth-scratch), which labels from its own 32x32 view",
        Args(teacher="depth-scratch", env=COMPARISON_TASK, run_dir="runs/stereo-from-depth-scratch", **STEREO)),
    "depth-student": (
        "64x64 Depth student of state-teacher-v1, 45 min on 2 CPU cores (then `ppo.py depth-teacher` fine-tunes it)",
        Args(teacher="state-teacher-v1", env_id="DexGrasp-Depth-v0", num_envs=128, total_timesteps=3_000_000,
             time_limit_s=2700, eval_interval=75, eval_episodes=32, run_dir="runs/depth-student",
             env=EnvConfig(sensors=SensorsConfig(depth=CameraConfig(width=64, height=64))))),
}


if __name__ == "__main__":
    main(recipe_cli(Args, RECIPES, __doc__, "algos/dagger.py"))
