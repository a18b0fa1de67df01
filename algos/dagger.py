"""DAgger distillation of a PPO teacher (state or depth) into a student (stereo RGB by default).

The student acts; the teacher labels every step it takes, from the teacher's own view of the same
world rendered in the same step (the environment's extra observation keys). Online, with a
replay buffer of recent (student observation, teacher label) pairs that every update mixes with
the fresh ones (the paper's resampling).

    python algos/ppo.py --env-id DexGrasp-Depth-v0 ...              # a teacher -> runs/<run>/checkpoint.pt
    python algos/dagger.py --teacher-checkpoint runs/<run>/checkpoint.pt --env-id DexGrasp-StereoRGB-v0 \
        --num-envs 1024 --sim-devices cuda:1 cuda:2 --learner-device cuda:0
    python algos/dagger.py --eval-checkpoint runs/<dagger run>/checkpoint.pt
"""

from __future__ import annotations

import dataclasses
import io
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
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import dexgrasp_env  # noqa: F401  (registers the ids)
from dexgrasp_env.config import ENV_IDS, EnvConfig, PoolConfig
from dexgrasp_env.evaluation import run_episodes
from dexgrasp_env.task import STATE_SLICES, observation_space


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (the run folder is runs/<env-id>__<exp-name>__<seed>__<time>)"""
    teacher_checkpoint: str | None = None
    """a checkpoint of algos/ppo.py (DexGrasp-State-v0 or DexGrasp-Depth-v0): the teacher"""
    env_id: Literal["DexGrasp-State-v0", "DexGrasp-Depth-v0", "DexGrasp-StereoRGB-v0"] = "DexGrasp-StereoRGB-v0"
    """what the student sees"""
    num_envs: int = 64
    """environments across the pool"""
    seed: int = 1
    """seed of the environments, the student and the sampling"""
    total_timesteps: int = 1_000_000
    """environment steps to distil for"""
    use_teacher_task: bool = True
    """take the task (physics, randomization, cameras) from the teacher's checkpoint; otherwise --env.* applies
    (its image size must then match what the teacher saw)"""
    env: EnvConfig = field(default_factory=EnvConfig)
    """the task, used with --no-use-teacher-task (its observation mode comes from --env-id)"""
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
    recurrent: bool = False
    """a GRU core between the encoders and the heads (its hidden state is stored with each sample)"""
    heldout_episodes: int = 8
    """environments whose observations, labelled by the teacher, measure the held-out action error"""
    eval_interval: int = 50
    """iterations between evaluations (student and teacher success on the same worlds) and checkpoints"""
    eval_episodes: int = 16
    """episodes per evaluation"""
    resume: str | None = None
    """checkpoint to continue from"""
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


# ------------------------------------------------------------------------------------------------
# Student
# ------------------------------------------------------------------------------------------------
class RunningMeanStd(nn.Module):
    """Running mean and variance of a vector observation."""

    def __init__(self, shape):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(1e-4))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        mean, var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-5.0, 5.0)


def conv_trunk(channels: int) -> nn.Sequential:
    """Conv 16/32/64, kernel 3, max-pooling (stride 2 first: see algos/ppo.py)."""
    return nn.Sequential(nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


class StereoEncoder(nn.Module):
    """One convolutional trunk shared by both eyes; the two feature maps fused by concatenation.

    Why concatenation of the *spatial* maps (channels of the left map next to the right map's at
    every location, then a 1x1 convolution): the stereo signal is disparity, a horizontal shift of
    the same structure between the eyes. Keeping both maps aligned location by location lets the
    fusion layer compare them where they overlap, which global per-eye vectors would have lost.
    Cross-attention between the maps could search along the epipolar line at any shift, at a cost
    quadratic in the map size; with a 6 cm baseline at ~1 m the disparities are a few pixels of
    the pooled map, which the 1x1 convolution after three poolings (receptive field ~30 px) spans.
    """

    def __init__(self, shape, out: int = 256):
        super().__init__()
        self.trunk = conv_trunk(shape[0])
        self.fuse = nn.Sequential(nn.Conv2d(128, 64, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n = self.fuse(torch.cat([self.trunk(torch.zeros(1, *shape))] * 2, 1)).shape[1]
        self.proj = nn.Sequential(nn.Linear(n, out), nn.ELU())

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        both = self.trunk(torch.cat([left, right], 0).float() / 255.0)  # one pass for both eyes
        fl, fr = both.chunk(2, 0)
        return self.proj(self.fuse(torch.cat([fl, fr], 1)))


class ImageEncoder(nn.Module):
    def __init__(self, shape, scale: float, out: int = 256):
        super().__init__()
        self.scale = scale
        self.trunk = nn.Sequential(conv_trunk(shape[0]), nn.Flatten())
        with torch.no_grad():
            n = self.trunk(torch.zeros(1, *shape)).shape[1]
        self.proj = nn.Sequential(nn.Linear(n, out), nn.ELU())

    def forward(self, x):
        return self.proj(self.trunk(x.float() * self.scale))


class Student(nn.Module):
    """Encoders for the student's keys, a proprioception MLP, an optional GRU core, a Gaussian
    action head and an auxiliary head that predicts the object position."""

    def __init__(self, spaces: dict, keys, depth_far: float, recurrent: bool, hidden: int = 256):
        super().__init__()
        self.keys = tuple(keys)
        self.stereo = StereoEncoder(spaces["left"].shape) if "left" in self.keys else None
        self.depth = ImageEncoder(spaces["depth"].shape, 1.0 / depth_far) if "depth" in self.keys else None
        vec = [k for k in self.keys if k in ("state", "proprio")]
        self.norms = nn.ModuleDict({k: RunningMeanStd(spaces[k].shape) for k in vec})
        width = 256 * ((self.stereo is not None) + (self.depth is not None)) + (256 if vec else 0)
        self.vector_mlp = (nn.Sequential(nn.Linear(sum(spaces[k].shape[0] for k in vec), 256), nn.ELU())
                           if vec else None)
        self.body = nn.Sequential(nn.Linear(width, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU())
        self.core = nn.GRUCell(hidden, hidden) if recurrent else None
        self.mean = nn.Linear(hidden, 23)
        self.log_std = nn.Parameter(torch.zeros(23))
        self.aux = nn.Linear(hidden, 3)
        self.hidden = hidden

    def forward(self, obs: dict, h: torch.Tensor | None = None):
        parts = []
        if self.stereo is not None:
            parts.append(self.stereo(obs["left"], obs["right"]))
        if self.depth is not None:
            parts.append(self.depth(obs["depth"]))
        if self.vector_mlp is not None:
            parts.append(self.vector_mlp(torch.cat([self.norms[k](obs[k]) for k in self.norms], -1)))
        z = self.body(torch.cat(parts, -1))
        if self.core is not None:
            z = h = self.core(z, h)
        return self.mean(z), self.log_std.expand(z.shape[0], -1), self.aux(z), h


class ReplayBuffer:
    """A ring buffer of (student observation, teacher label) pairs on the learner device.

    Allocated once; writing past the end wraps around and overwrites the oldest entries.
    """

    def __init__(self, capacity: int, spec: dict, device):
        self.capacity, self.device = capacity, device
        self.data = {k: torch.zeros((capacity, *shape), dtype=dtype, device=device) for k, (shape, dtype) in spec.items()}
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


def distillation_loss(mean, log_std, aux, t_mean, t_std, target, args: Args) -> tuple[torch.Tensor, dict]:
    """Teacher-inverse-variance-weighted L2 on the means, L2 on the log-stds, auxiliary L2."""
    action = (((mean - t_mean) / t_std) ** 2).mean()
    logstd = ((log_std - t_std.log()) ** 2).mean()
    aux_loss = ((aux - target) ** 2).sum(-1).mean()
    total = action + args.logstd_coef * logstd + args.aux_coef * aux_loss
    return total, {"action": action, "logstd": logstd, "aux": aux_loss, "mse": ((mean - t_mean) ** 2).mean()}


# ------------------------------------------------------------------------------------------------
# Setup helpers
# ------------------------------------------------------------------------------------------------
def load_teacher(path: str, device):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if "policy_export" not in ckpt:
        raise ValueError(f"{path} is not a checkpoint of algos/ppo.py (no exported policy in it)")
    program = torch.export.load(io.BytesIO(ckpt["policy_export"])).module().to(device)
    return program, tuple(ckpt["policy_keys"]), ckpt["env_config"]


def task_config(args: Args, teacher_keys, teacher_cfg: EnvConfig) -> EnvConfig:
    base = teacher_cfg if args.use_teacher_task else args.env
    mode = ENV_IDS[args.env_id]
    student_keys = dataclasses.replace(base, obs_mode=mode, extra_obs=()).obs_keys()
    extra = tuple(dict.fromkeys(k for k in (*teacher_keys, "state") if k not in student_keys and k != "proprio"))
    cfg = dataclasses.replace(base, obs_mode=mode, extra_obs=extra)
    if "depth" in teacher_keys and (cfg.camera.width, cfg.camera.height) != (teacher_cfg.camera.width,
                                                                              teacher_cfg.camera.height):
        raise ValueError(f"the teacher saw {teacher_cfg.camera.width}x{teacher_cfg.camera.height} depth, the task "
                         f"renders {cfg.camera.width}x{cfg.camera.height}: use --use-teacher-task")
    return cfg


def as_dict(obs):
    return obs if isinstance(obs, dict) else {"state": obs}


def obs_spaces(space: gym.Space) -> dict:
    return dict(space.spaces) if isinstance(space, gym.spaces.Dict) else {"state": space}


def save_checkpoint(path, student, optimizer, global_step, iteration, args, cfg, student_keys):
    tmp = f"{path}.tmp"
    plain = {k: v for k, v in dataclasses.asdict(args).items() if k not in ("env", "pool")}
    torch.save({"student": student.state_dict(), "optimizer": optimizer.state_dict(), "global_step": global_step,
                "iteration": iteration, "args": plain, "pool": args.pool, "env_config": cfg,
                "student_keys": student_keys, "torch_rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


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
        ckpt = torch.load(args.eval_checkpoint, map_location=device, weights_only=False)
        cfg, keys = ckpt["env_config"], ckpt["student_keys"]
        student = Student(obs_spaces(observation_space(cfg)), keys, cfg.camera.depth_range[1],
                          ckpt["args"]["recurrent"]).to(device)
        student.load_state_dict(ckpt["student"])
        act = lambda o: student(o, None)[0]  # noqa: E731
        video = args.eval_video or os.path.join(os.path.dirname(args.eval_checkpoint), "student.mp4")
        result = run_episodes(act, cfg, args.eval_episodes, args.seed, device)
        result = {"student_success_rate": result["success_rate"], "student_mean_return": result["mean_return"],
                  "episodes": args.eval_episodes, "video": video}
        run_episodes(act, cfg, 1, args.seed, device, video)
        print(result)
        return result
    if args.teacher_checkpoint is None:
        raise ValueError("--teacher-checkpoint is required (a checkpoint of algos/ppo.py)")
    if args.recurrent and args.fresh_fraction < 1.0:
        print("note: with --recurrent, replayed samples reuse the hidden state stored with them")
    teacher, teacher_keys, teacher_cfg = load_teacher(args.teacher_checkpoint, device)
    cfg = task_config(args, teacher_keys, teacher_cfg)
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, config=cfg, pool=args.pool)
    spaces = obs_spaces(envs.single_observation_space)
    student_keys = tuple(k for k in cfg.obs_keys() if k not in cfg.extra_obs)
    student = Student(spaces, student_keys, cfg.camera.depth_range[1], args.recurrent).to(device)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.learning_rate)
    global_step, start_iteration = 0, 1
    if args.resume:
        ckpt = torch.load(args.resume, map_location=device, weights_only=False)
        student.load_state_dict(ckpt["student"])
        optimizer.load_state_dict(ckpt["optimizer"])
        global_step, start_iteration = ckpt["global_step"], ckpt["iteration"] + 1
        torch.set_rng_state(ckpt["torch_rng"])

    # ---- replay buffer (uint8 images) and a held-out set labelled by the teacher -------------------
    spec = {k: (spaces[k].shape, torch.uint8 if spaces[k].dtype == np.uint8 else torch.float32) for k in student_keys}
    spec.update(t_mean=((23,), torch.float32), t_std=((23,), torch.float32), target=((3,), torch.float32))
    if args.recurrent:
        spec["h"] = ((student.hidden,), torch.float32)
    replay = ReplayBuffer(args.replay_size, spec, device)
    heldout_env = gym.make_vec(args.env_id, num_envs=args.heldout_episodes, config=cfg, learner_device=str(device))
    h_obs, _ = heldout_env.reset(seed=args.seed + 10_000)
    heldout = []
    for _ in range(8):  # a few steps of the teacher from the held-out worlds' start
        h_obs = as_dict(h_obs)
        with torch.no_grad():
            t_mean, _ = teacher({k: h_obs[k] for k in teacher_keys})
        heldout.append({k: h_obs[k].clone() for k in student_keys} | {"t_mean": t_mean})
        h_obs, *_ = heldout_env.step(t_mean.clamp(-1, 1))
    heldout_env.close()
    heldout = {k: torch.cat([h[k] for h in heldout]) for k in heldout[0]}

    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = args.run_dir or os.path.join("runs", run_name)
    os.makedirs(run_dir, exist_ok=True)
    if args.track:
        import wandb

        wandb.init(project=args.wandb_project_name, config=dataclasses.asdict(args), name=run_name,
                   sync_tensorboard=True)
    writer = SummaryWriter(run_dir)
    print(f"replay buffer: {args.replay_size} transitions, {replay.nbytes() / 2**20:.1f} MiB on {device}")
    writer.add_scalar("charts/replay_buffer_mib", replay.nbytes() / 2**20, 0)

    def heldout_error() -> float:
        with torch.no_grad():
            h0 = torch.zeros(heldout["t_mean"].shape[0], student.hidden, device=device) if args.recurrent else None
            return ((student({k: heldout[k] for k in student_keys}, h0)[0] - heldout["t_mean"]) ** 2).mean().item()

    # ---- distil ----------------------------------------------------------------------------------------
    T, N = args.num_steps, args.num_envs
    iterations = max(1, args.total_timesteps // (T * N))
    obs, _ = envs.reset(seed=args.seed)
    obs = as_dict(obs)
    for k in student.norms:
        student.norms[k].update(obs[k])
    h = torch.zeros(N, student.hidden, device=device) if args.recurrent else None
    resetting = torch.zeros(N, dtype=torch.bool, device=device)
    bar = tqdm(range(start_iteration, iterations + 1), disable=not args.progress, desc="dagger", unit="it")
    start_time, start_step = time.time(), global_step
    initial_heldout = heldout_error()
    writer.add_scalar("distill/heldout_action_mse", initial_heldout, global_step)
    stats: dict = {}
    for iteration in bar:
        fresh = {k: [] for k in spec}
        ep = torch.zeros(2, device=device)  # finished episodes, successes
        for _ in range(T):
            global_step += N
            with torch.no_grad():
                t_mean, t_std = teacher({k: obs[k] for k in teacher_keys})
                s_mean, _, _, h_new = student(obs, h)
            keep = ~resetting  # the step after an episode end only resets: no label to learn
            for k in student_keys:
                fresh[k].append(obs[k][keep])
            fresh["t_mean"].append(t_mean[keep])
            fresh["t_std"].append(t_std[keep])
            fresh["target"].append(obs["state"][:, STATE_SLICES["object_pos"]][keep])
            if args.recurrent:
                fresh["h"].append(h[keep])
            beta = args.teacher_mix * max(0.0, 1.0 - global_step / max(1, args.teacher_mix_steps))
            use_teacher = torch.rand(N, device=device) < beta
            action = torch.where(use_teacher.unsqueeze(1), t_mean, s_mean).clamp(-1.0, 1.0)
            obs, _, terminated, truncated, info = envs.step(action)
            obs = as_dict(obs)
            resetting = terminated | truncated
            if args.recurrent:
                h = torch.where(resetting.unsqueeze(1), torch.zeros_like(h_new), h_new)
            ended = info["_episode_stats"].float()
            ep += torch.stack([ended.sum(), (info["episode_stats"]["success"] * ended).sum()])
        fresh = {k: torch.cat(v) for k, v in fresh.items()}
        for k in student.norms:
            student.norms[k].update(fresh[k])
        # ---- updates on fresh + resampled pairs -------------------------------------------------------
        for _ in range(args.updates_per_iteration):
            batch, _ = mixed_minibatch(fresh, replay, args.minibatch_size, args.fresh_fraction)
            mean, log_std, aux, _ = student({k: batch[k] for k in student_keys}, batch.get("h"))
            loss, parts = distillation_loss(mean, log_std, aux, batch["t_mean"], batch["t_std"], batch["target"], args)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), args.max_grad_norm)
            optimizer.step()
        replay.add(fresh)

        # ---- logging, evaluation, checkpoints -------------------------------------------------------
        held = heldout_error()
        n_ep, n_succ = ep.tolist()
        sps = int((global_step - start_step) / (time.time() - start_time))
        stats = {"global_step": global_step, "iteration": iteration, "heldout_action_mse": held, "sps": sps,
                 **{f"loss_{k}": v.item() for k, v in parts.items()}}
        if n_ep:
            stats["student_success_rate_train"] = n_succ / n_ep
        for k, v in stats.items():
            if k not in ("global_step", "iteration"):
                writer.add_scalar(f"distill/{k}", v, global_step)
        writer.add_scalar("charts/teacher_mix", beta, global_step)
        bar.set_postfix(heldout=f"{held:.4f}", aux=f"{stats['loss_aux']:.4f}", sps=sps)
        if iteration % args.eval_interval == 0 or iteration == iterations:
            if args.eval_episodes > 0:
                seed = args.seed + 20_000 + iteration
                for who, policy in (("student", lambda o: student(o, None)[0]),
                                    ("teacher", lambda o: teacher({k: o[k] for k in teacher_keys})[0])):
                    result = run_episodes(policy, cfg, args.eval_episodes, seed, device)
                    for metric in ("success_rate", "mean_return"):
                        stats[f"{who}_{metric}"] = result[metric]
                        writer.add_scalar(f"eval/{who}_{metric}", result[metric], global_step)
            save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), student, optimizer, global_step, iteration, args,
                            cfg, student_keys)
    envs.close()
    writer.close()
    stats.update(run_dir=run_dir, replay_mib=replay.nbytes() / 2**20, initial_heldout_action_mse=initial_heldout)
    return stats


if __name__ == "__main__":
    main(tyro.cli(Args))
