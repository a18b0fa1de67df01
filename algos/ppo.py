"""PPO for dexterous grasping from state, depth or stereo RGB (CleanRL style, one file).

Every shipped policy's training is a named recipe (``RECIPES`` at the end of this file); flags after the name
override it, and ``--help`` lists them:

    python algos/ppo.py state-teacher                      # the State teacher: 45 minutes on 2 CPU cores
    python algos/ppo.py depth-scratch                      # end-to-end Depth PPO from scratch: 2 hours
    python algos/ppo.py depth-scratch --total-timesteps 50000 --run-dir runs/try   # a quick look
    python algos/ppo.py depth-teacher                      # PPO fine-tuning of the distilled depth student
    python algos/ppo.py disaggregated                      # the paper's layout: 3 simulator GPUs + 1 learner
    torchrun --nproc_per_node=4 algos/ppo.py data-parallel # every rank simulates and learns
    python algos/ppo.py --env-id DexGrasp-Depth-v0 ...     # no recipe: the defaults and your flags

Evaluate: ``python algos/ppo.py --eval-checkpoint runs/<run>/checkpoint.pt --eval-episodes 128``.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import gc
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Annotated, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import tyro
from tqdm import tqdm

import dexgrasp_env  # (registers the ids)
import dexgrasp_env.pretrained
from dexgrasp_env import checkpoints
from dexgrasp_env.actions import action_space
from dexgrasp_env.compatibility import check_task
from dexgrasp_env.config import (
    ENV_IDS, REWARD_TERMS, CameraConfig, CurriculumConfig, EnvConfig, PoolConfig, RandomizationConfig, RewardConfig,
    SensorsConfig,
)
from dexgrasp_env.evaluation import eval_config, run_episodes
from dexgrasp_env.models import (
    GaussianActor, ObsEncoder, RunningMeanStd, bf16_images, export_policy, layer_init, load_policy,
    widen_depth_input,
)
from dexgrasp_env.recipes import recipe_cli
from dexgrasp_env.runs import RunLog
from dexgrasp_env.spaces import as_dict, key_spaces, obs_groups, state_slices
from dexgrasp_env.vector import serve_worker


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (the run folder is runs/<env-id>__<exp-name>__<seed>__<time>)"""
    env_id: Literal["DexGrasp-State-v0", "DexGrasp-Depth-v0", "DexGrasp-StereoRGB-v0", "DexGrasp-WristDepth-v0"] = (
        "DexGrasp-State-v0")
    """the registered environment: what the policy sees"""
    num_envs: int = 64
    """environments across the whole pool (per rank with --layout data-parallel)"""
    seed: int = 1
    """seed of the environments, the policy initialisation and the sampling"""
    total_timesteps: int = 1_000_000
    """environment steps to train for (all ranks together)"""
    time_limit_s: float | None = None
    """stop training after this much wall-clock time (seconds), with a final checkpoint and evaluation"""
    layout: Literal["disaggregated", "data-parallel"] = "disaggregated"
    """disaggregated: simulator workers (--sim-devices) feed one learner; data-parallel: run under torchrun,
    every rank simulates in-process on its own device and gradients are all-reduced"""
    env: EnvConfig = field(default_factory=EnvConfig)
    """the task (its observation mode comes from --env-id; --env.backend picks the physics: auto, mujoco, warp)"""
    pool: Annotated[PoolConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=PoolConfig)
    """where the environments run (--sim-devices, --learner-device, ...)"""
    adr: bool = False
    """train towards the paper's full randomization (`RandomizationConfig.full()` replaces --env.randomization's
    ranges) with the curriculum on (ADR: ranges widen from nominal by --env.randomization.curriculum.step whenever
    the success rate passes its threshold); evaluations then always run at the full ranges"""
    asymmetric_critic: bool = True
    """give the critic the privileged state (rendered from the same world as an extra key)"""
    num_steps: int = 16
    """rollout horizon per update (steps per environment)"""
    learning_rate: float = 3e-4
    """initial learning rate of Adam"""
    lr_schedule: Literal["adaptive", "fixed"] = "adaptive"
    """adaptive: scale the learning rate by 1.5 to keep the KL divergence near --kl-target"""
    max_learning_rate: float = 1e-2
    """ceiling of the adaptive learning rate (when the KL stays small it keeps growing; for CNN weights and for
    fine-tuning a distilled actor a ceiling near --learning-rate is safer)"""
    kl_target: float = 0.013
    """target KL divergence per update of the adaptive schedule"""
    gamma: float = 0.998
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 4
    """epochs over each rollout"""
    update_epochs_after_lift: int | None = None
    """once the training episodes lift their object (a lifted rate of at least 0.1 over the ended episodes of the
    last 20 updates), this many epochs per update instead of --update-epochs (None: --update-epochs throughout).
    Why: before the first lift more epochs per sample found the grasp in fewer steps, after it fewer epochs climbed
    faster per wall-clock minute, the simulator being most of the time then (seed 2; on seed 1 neither lifted within
    the hour: the journal, 2026-12-07)"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss like the surrogate"""
    ent_coef: float = 0.002
    """entropy bonus coefficient"""
    vf_coef: float = 1.0
    """value loss coefficient"""
    max_grad_norm: float = 1.0
    """gradient norm clip"""
    separate_grad_clip: bool = False
    """clip the actor's and the critic's gradients each to --max-grad-norm (default: one clip over both, so a
    large value gradient early in training shrinks the policy's step too)"""
    init_log_std: float = 0.0
    """initial log standard deviation of the Gaussian policy"""
    aux_coef: float = 0.0
    """weight of an auxiliary loss: a linear head on the actor's features predicts the object's position, the
    target being the privileged state's object position under the critic's running normalisation (so about unit
    scale). Why: from scratch, a pixel policy's encoder would otherwise learn where the object is only from the
    policy gradient; the supervised target teaches it in a few hundred gradient steps. Needs the privileged
    state (--asymmetric-critic); the head is not part of the exported policy"""
    aux_blocks: tuple[str, ...] = ("object_pos",)
    """blocks of the privileged state the auxiliary head predicts (--aux-coef), by their names in
    `dexgrasp_env.spaces.state_slices` (e.g. object_pos object_kind object_size: where the object is and what
    it is, the parts of the State teacher's input a single depth frame shows)"""
    aux_input: bool = False
    """the auxiliary prediction is also an input of the actor: its head reads the fused image features and
    proprioception, and its output, detached, joins the actor's MLP input (`dexgrasp_env.models.ObsEncoder`'s
    `estimate`; exported with the policy). Why: the MLP then reads an explicit estimate of where the object is
    from the first update, as the State policy reads the true position, instead of finding it among 256 image
    features. Needs --aux-coef > 0"""
    channels_last: bool = True
    """convolutions in the channels-last layout (on CPU the convolutions run about 2x and the learner phase 1.3x
    faster; --no-channels-last is the NCHW layout of earlier versions, for comparison: `benchmarks/throughput.py
    --ppo`)"""
    depth_encoding: Literal["pixel", "masked"] = "pixel"
    """how depth reaches the CNN: `pixel` (per-pixel running normalisation; every policy before 2026-12-07) or
    `masked` (the same, with pixels that returned nothing filled with their mean and marked in a second channel:
    dropped pixels stop looking like objects; `dexgrasp_env.models.fill_missing`). An --init-actor of the `pixel`
    encoding starts `masked` as the same function (the mask channel's weights start at zero)"""
    bf16: bool = False
    """bf16: on CUDA, autocast of the forward passes; on CPU, of the image encoders only (their convolutions are
    the learner's cost and run 1.5-2x faster in bf16 on a CPU with AVX512-BF16 or AMX; the heads and the
    probability ratios stay float32). On a CPU without native bf16 (`dexgrasp_env.models.bf16_images`), where it
    would run about 6x slower, the encoders stay float32 and a warning says so. Checkpoints and exported policies
    are float32 either way"""
    checkpoint_interval: int = 50
    """write a checkpoint every this many updates (and at the end)"""
    eval_interval: int = 0
    """every this many updates, evaluate the deterministic policy on --eval-episodes (all shapes in turn) and log
    success and lifted rates against steps and wall time (0: only at the end)"""
    resume: str | None = None
    """checkpoint to continue from: parameters, optimiser, normalisers, step counts, every random stream"""
    init_actor: str | None = None
    """start the actor (encoder, normalisers, head, log-std) from this checkpoint of algos/dagger.py or algos/ppo.py,
    or from a shipped policy (its name), and train on its task (its --env config; --env-id must match its
    observation mode): PPO fine-tuning of a distilled student, or a second stage of a PPO run. The critic starts
    from scratch"""
    anchor_coef: float = 0.0
    """with --init-actor: weight of a KL penalty that holds the policy near the initial (distilled) actor, a frozen
    copy; PPO's updates are noisy, and without it the fine-tuned student drifts from what it had learned"""
    critic_warmup_updates: int = 0
    """updates at the start that train only the critic (the actor stays as initialised): with --init-actor, so
    that the first policy gradients use advantages of a critic that has seen the policy"""
    run_dir: str | None = None
    """where logs and checkpoints go (default: runs/<run name>)"""
    track: bool = False
    """log to Weights & Biases as well (needs `pip install wandb`)"""
    wandb_project_name: str = "dexgrasp"
    """the W&B project"""
    capture_video: bool = False
    """record an MP4 of one evaluation episode at every checkpoint"""
    eval_checkpoint: str | None = None
    """evaluate this checkpoint instead of training"""
    eval_episodes: int = 128
    """episodes per evaluation (one environment each; shapes assigned in turn)"""
    eval_video: str | None = None
    """MP4 path for an evaluation episode (--eval-checkpoint; default: next to the checkpoint)"""
    progress: bool = True
    """show a progress bar"""
    recipe: tyro.conf.Suppress[str | None] = None
    """the recipe these arguments came from (set by the command line; recorded in checkpoints)"""
    overrides: tyro.conf.Suppress[tuple[str, ...]] = ()
    """the flags given after the recipe (recorded in checkpoints)"""


# ------------------------------------------------------------------------------------------------
# Agent
# ------------------------------------------------------------------------------------------------
class Agent(nn.Module):
    """Gaussian actor on the policy keys; critic on the privileged state when there is one."""

    def __init__(self, spaces: dict, policy_keys, critic_keys, n_actions: int, init_log_std: float = 0.0,
                 hide: dict | None = None, aux: tuple[slice, ...] = (), channels_last: bool = True,
                 depth_encoding: str = "pixel", aux_input: bool = False):
        super().__init__()
        width = sum(sl.stop - sl.start for sl in aux)
        self.actor = GaussianActor(ObsEncoder(spaces, policy_keys, hide=hide, channels_last=channels_last,
                                              depth_encoding=depth_encoding, estimate=width if aux_input else 0),
                                   n_actions, init_log_std)
        self.critic_enc = ObsEncoder(spaces, critic_keys, channels_last=channels_last, depth_encoding=depth_encoding)
        self.critic = layer_init(nn.Linear(self.critic_enc.out_dim, 1), std=1.0)
        self.value_norm = RunningMeanStd(())
        # --aux-coef: blocks of the privileged state (--aux-blocks) from the actor's features (not exported), or
        # with --aux-input the actor encoder's own estimate (exported)
        index = torch.cat([torch.arange(sl.start, sl.stop) for sl in aux]) if aux else torch.zeros(0, dtype=torch.long)
        self.register_buffer("aux_index", index, persistent=False)  # (built once: aux_target runs every minibatch)
        self.aux = layer_init(nn.Linear(self.actor.encoder.out_dim, width), std=0.01) if aux and not aux_input \
            else None

    @property
    def vector_keys(self) -> set:
        """The observation keys with running statistics (vector keys and depth)."""
        return set(self.actor.encoder.norms) | set(self.critic_enc.norms)

    def update_norms(self, obs: dict) -> None:
        self.actor.encoder.update_norms(obs)
        self.critic_enc.update_norms(obs)

    def get_value(self, obs: dict) -> torch.Tensor:
        """Normalised value (see ``value_norm``)."""
        return self.critic(self.critic_enc(obs)).squeeze(-1)

    def aux_target(self, obs: dict) -> torch.Tensor:
        """What the auxiliary head predicts: blocks of the privileged state (``--aux-blocks``), normalised by
        the critic's running statistics of that state (about unit scale whatever the workspace)."""
        norm = self.critic_enc.norms["state"]
        idx = self.aux_index
        return ((obs["state"][:, idx] - norm.mean[idx]) / torch.sqrt(norm.var[idx] + 1e-8)).clamp(-5.0, 5.0)

    def get_action_and_value(self, obs: dict, action: torch.Tensor | None = None, anchor: nn.Module | None = None):
        """Action, its log-probability, entropy, value and the auxiliary prediction (None without the head);
        with ``anchor`` (a frozen actor) also the KL divergence of this policy from the anchor's per sample."""
        z, aux = self.actor.encoder.features_and_estimate(obs)
        d = torch.distributions.Normal(*self.actor.head(z))
        if action is None:
            action = d.sample()
        if self.aux is not None:
            aux = self.aux(z)
        out = (action, d.log_prob(action).sum(-1), d.entropy().sum(-1), self.get_value(obs), aux)
        if anchor is None:
            return out
        with torch.no_grad():
            a_mean, a_std = anchor(obs)
        return *out, torch.distributions.kl_divergence(d, torch.distributions.Normal(a_mean, a_std)).sum(-1)


def make_agent(args: Args, env_cfg: EnvConfig, spaces: dict, device, actor_state: dict | None = None) -> Agent:
    """The agent; with ``actor_state`` (a trained actor's state dict) its actor starts from those weights."""
    groups = obs_groups(env_cfg)
    critic_keys = groups["critic"] if args.asymmetric_critic else groups["policy"]
    n_actions = action_space(env_cfg).shape[0]
    hide = None
    if actor_state is not None and "encoder.keep_proprio" in actor_state:  # a student that hid some entries
        hide = {"proprio": actor_state["encoder.keep_proprio"] == 0}
    if args.aux_coef > 0 and "state" not in critic_keys:
        raise ValueError(f"--aux-coef {args.aux_coef} needs the privileged state (its target), which the critic "
                         f"reads only with --asymmetric-critic; the critic's keys are {critic_keys}")
    aux = ()
    if args.aux_coef > 0:
        blocks = state_slices(env_cfg)
        unknown = [b for b in args.aux_blocks if b not in blocks]
        if unknown or not args.aux_blocks:
            raise ValueError(f"--aux-blocks {' '.join(args.aux_blocks)!r}: {unknown or 'none given'}; expected "
                             f"blocks of this task's privileged state: {sorted(blocks)}")
        aux = tuple(blocks[b] for b in args.aux_blocks)
    elif args.aux_input:
        raise ValueError(f"--aux-input trains its estimate with the auxiliary loss; --aux-coef {args.aux_coef} "
                         "must be > 0")
    agent = Agent(spaces, groups["policy"], critic_keys, n_actions, args.init_log_std, hide,
                  aux=aux, channels_last=args.channels_last, depth_encoding=args.depth_encoding,
                  aux_input=args.aux_input).to(device)
    if actor_state is not None:
        agent.actor.load_state_dict(widen_depth_input(actor_state, agent.actor))
    return agent


def initial_actor(path: str, env_id: str) -> tuple[dict, EnvConfig]:
    """The actor's state dict and the task of a ``dagger.py`` or ``ppo.py`` checkpoint, or of a shipped policy
    (its exported program holds the same parameters and running statistics), for ``--init-actor``."""
    if not os.path.exists(path) and path in dexgrasp_env.pretrained.available():
        policy, cfg = dexgrasp_env.load_pretrained(path)
        state, kind = dict(policy.program.state_dict()), "shipped"
    else:
        ckpt = checkpoints.load(path)
        kind = ckpt.get("kind")
        if kind not in ("dagger", "ppo"):
            raise ValueError(f"--init-actor {path} is not a checkpoint of algos/dagger.py or algos/ppo.py (kind "
                             f"{kind!r}) nor a shipped policy ({', '.join(dexgrasp_env.pretrained.available())})")
        cfg = checkpoints.env_config(ckpt["env_config"])
        prefix = "actor."
        state = ckpt["student"] if kind == "dagger" else ckpt["agent"]
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if cfg.obs_mode != ENV_IDS[env_id]:
        raise ValueError(f"--init-actor {path} acts on obs_mode={cfg.obs_mode!r}, but --env-id {env_id} is "
                         f"{ENV_IDS[env_id]!r}")
    return state, cfg


def env_config(args: Args) -> EnvConfig:
    extra = tuple(args.env.extra_obs)
    if args.asymmetric_critic and args.env_id != "DexGrasp-State-v0" and "state" not in extra:
        extra += ("state",)
    cfg = dataclasses.replace(args.env, obs_mode=ENV_IDS[args.env_id], extra_obs=extra)
    if args.adr:
        curriculum = dataclasses.replace(cfg.randomization.curriculum, enabled=True)
        cfg = dataclasses.replace(cfg, randomization=dataclasses.replace(RandomizationConfig.full(),
                                                                         curriculum=curriculum))
    return cfg


def deterministic(policy):
    """``obs -> action mean`` of an ``obs -> (mean, std)`` policy."""
    return lambda obs: policy(obs)[0]


def evaluate(policy, env_cfg: EnvConfig, args: Args, device, video: str | None = None,
             difficulty: float | None = None) -> dict:
    return run_episodes(deterministic(policy), eval_config(env_cfg, difficulty=difficulty), args.eval_episodes,
                        args.seed + 100_003, device, video)


LOSS_SCALARS = {"policy": "policy_loss", "value": "value_loss"}
"""Tensorboard names of the loss parts that differ from their keys (``losses/<name>``)."""
LIFT_WINDOW, LIFT_RATE = 20, 0.1
"""--update-epochs-after-lift: the lift counts once this fraction of the training episodes that ended in the last
this many updates lifted their object (at 256 environments about 340 episodes: one lucky episode is not a lift)"""


def init_layout(args: Args) -> tuple[Args, int, int] | None:
    """Process groups of the layout: ``(args, rank, world)``; ``None`` on a torchrun rank that serves a simulator
    worker (disaggregated across machines) and has nothing else to do."""
    rank, world = 0, 1
    if args.pool.launch == "torchrun" and args.layout == "disaggregated":  # across machines: ranks > 0 simulate
        dist.init_process_group("gloo")
        if dist.get_rank() > 0:
            serve_worker()
            dist.destroy_process_group()
            return None
    if args.layout == "data-parallel":
        cuda = args.pool.learner_device.startswith("cuda")
        dist.init_process_group("nccl" if cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        RunningMeanStd.data_parallel = True  # the replicas normalise with the statistics of every rank
        device_name = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}" if cuda else "cpu"
        args = dataclasses.replace(args, pool=dataclasses.replace(args.pool, sim_devices=None,
                                                                  learner_device=device_name))
    return args, rank, world


def training_task(args: Args) -> tuple[Args, dict | None, EnvConfig]:
    """The run's task and the actor's initial weights. Fine-tuning (``--init-actor``) trains on the actor's task;
    the extra keys (the critic's) and the curriculum are this run's, and the task must fit the actor."""
    if not args.init_actor:
        return args, None, env_config(args)
    actor_state, task = initial_actor(args.init_actor, args.env_id)
    rc = dataclasses.replace(task.randomization, curriculum=args.env.randomization.curriculum)
    args = dataclasses.replace(args, env=dataclasses.replace(task, extra_obs=(), randomization=rc))
    env_cfg = env_config(args)
    check_task(task, env_cfg, obs_groups(env_cfg)["policy"], who=f"--init-actor {args.init_actor}")
    return args, actor_state, env_cfg


def evaluate_checkpoint(args: Args, device) -> dict:
    """``--eval-checkpoint``: the checkpoint's exported policy on its own task, and a video of one episode."""
    ckpt = checkpoints.load(args.eval_checkpoint, device)
    cfg = checkpoints.env_config(ckpt["env_config"])
    policy = load_policy(ckpt["policy_export"], device)
    result = evaluate(policy, cfg, args, device)
    video = args.eval_video or os.path.join(os.path.dirname(args.eval_checkpoint), "eval.mp4")
    result["video"] = run_episodes(deterministic(policy), eval_config(cfg), 1, args.seed, device, video)["video"]
    print(json.dumps(result))
    return result


def make_anchor(args: Args, agent: Agent, actor_state: dict | None) -> nn.Module | None:
    """``--anchor-coef``: a frozen copy of the initial actor, whose KL divergence from the policy is penalised."""
    if args.anchor_coef <= 0:
        return None
    if actor_state is None:
        raise ValueError(f"--anchor-coef {args.anchor_coef} needs --init-actor (the policy to stay near)")
    return copy.deepcopy(agent.actor).eval().requires_grad_(False)


def compute_advantages(args: Args, agent: Agent, rewards, values, next_value, terminated, cut):
    """GAE in the value normaliser's units: ``(advantages, returns)``. A time-out (``cut`` but not
    ``terminated``) bootstraps from its true final observation's value; an episode end cuts the trace."""
    mean, std = agent.value_norm.mean, torch.sqrt(agent.value_norm.var + 1e-8)
    v, nv = values * std + mean, next_value * std + mean
    advantages = torch.zeros_like(rewards)
    lastgaelam = torch.zeros(rewards.shape[1], device=rewards.device)
    for t in reversed(range(rewards.shape[0])):
        v_next = nv if t == rewards.shape[0] - 1 else v[t + 1]
        delta = rewards[t] + args.gamma * v_next * (~terminated[t]) - v[t]
        lastgaelam = delta + args.gamma * args.gae_lambda * (~cut[t]) * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + v


def ppo_loss(args: Args, agent: Agent, batch: dict, mb, anchor, autocast, warmup: bool) -> tuple[torch.Tensor, dict]:
    """The loss of one minibatch ``mb`` of the flattened rollout ``batch``: clipped surrogate, (clipped) value
    loss, entropy bonus, and the optional terms (KL anchor, auxiliary state blocks); during the critic's
    warm-up the value loss alone. Returns the loss and its parts (detached) with the approximate KL."""
    mb_obs = {k: v_[mb] for k, v_ in batch["obs"].items()}
    with autocast:
        _, newlogp, entropy, newvalue, aux, *anchor_kl = agent.get_action_and_value(mb_obs, batch["act"][mb], anchor)
    newlogp, newvalue = newlogp.float(), newvalue.float()
    logratio = newlogp - batch["logp"][mb]
    ratio = logratio.exp()
    adv = batch["adv"][mb]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
    ret, val = batch["ret"][mb], batch["val"][mb]
    if args.clip_vloss:
        v_clipped = val + (newvalue - val).clamp(-args.clip_coef, args.clip_coef)
        v_loss = 0.5 * torch.max((newvalue - ret) ** 2, (v_clipped - ret) ** 2).mean()
    else:
        v_loss = 0.5 * ((newvalue - ret) ** 2).mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef
    parts = {"policy": pg_loss, "value": v_loss, "entropy": entropy_loss}
    if anchor is not None:
        parts["anchor_kl"] = anchor_kl[0].float().mean()
        loss = loss + args.anchor_coef * parts["anchor_kl"]
    if aux is not None:
        parts["aux"] = ((aux.float() - agent.aux_target(mb_obs)) ** 2).sum(-1).mean()
        loss = loss + args.aux_coef * parts["aux"]
    if warmup:  # the actor waits for a critic that knows it
        loss = v_loss * args.vf_coef
    with torch.no_grad():
        parts["approx_kl"] = ((ratio - 1) - logratio).mean()
        parts["clipfrac"] = ((ratio - 1.0).abs() > args.clip_coef).float().mean()
    return loss, {k: x.detach() for k, x in parts.items()}


def apply_gradients(args: Args, agent: Agent, optimizer, loss: torch.Tensor, world: int) -> None:
    """One optimiser step: gradients averaged over data-parallel ranks, clipped (actor and critic apart with
    ``--separate-grad-clip``)."""
    optimizer.zero_grad()
    loss.backward()
    if world > 1:  # data parallel: average the gradients of all ranks
        for p in agent.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world
    if args.separate_grad_clip:
        nn.utils.clip_grad_norm_(agent.actor.parameters(), args.max_grad_norm)
        nn.utils.clip_grad_norm_([p for n, p in agent.named_parameters() if not n.startswith("actor.")],
                                 args.max_grad_norm)
    else:
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
    optimizer.step()


def evaluate_in_training(args: Args, agent: Agent, env_cfg: EnvConfig, envs, device) -> dict:
    """The periodic deterministic evaluation: at the full ranges, and under a curriculum also at the ranges it
    trains on now (``success_rate_at_difficulty``)."""
    result = evaluate(agent.actor, env_cfg, args, device)
    difficulty = float(getattr(envs, "difficulty", 1.0))
    if difficulty < 1.0:
        current = evaluate(agent.actor, env_cfg, args, device, difficulty=difficulty)
        result["success_rate_at_difficulty"] = current["success_rate"]
    return {**result, "difficulty": difficulty}


def check_replicas(agent: Agent, world: int, rank: int, updates: int) -> None:
    """Data parallel: the replicas must not have drifted apart; then the process group closes."""
    flat = torch.cat([t.detach().flatten().float() for t in (*agent.parameters(), *agent.buffers())])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    if not all(torch.equal(gathered[0], g) for g in gathered):
        raise RuntimeError("data-parallel replicas diverged: their parameters differ")
    if rank == 0:
        print(f"data-parallel replicas identical after {updates} updates", flush=True)
    dist.barrier()  # no rank tears its connections down while another still talks
    dist.destroy_process_group()
    gc.collect()  # pending collectives' handles go now, while the interpreter is fully alive


# ------------------------------------------------------------------------------------------------
def main(args: Args) -> dict:
    # ---- 1. layout, devices, seeding ------------------------------------------------------------
    if args.pool.autoreset_mode != "next_step" or args.pool.numpy_obs:
        raise ValueError(f"ppo.py needs torch observations and next_step autoreset, got autoreset_mode="
                         f"{args.pool.autoreset_mode!r}, numpy_obs={args.pool.numpy_obs}")
    for name in ("update_epochs", "update_epochs_after_lift"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)} must be at least 1 (epochs per update)")
    layout = init_layout(args)
    if layout is None:  # a rank that served a simulator worker
        return {}
    args, rank, world = layout
    device = torch.device(args.pool.learner_device)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    torch.manual_seed(args.seed)  # the same initial policy on every rank

    # ---- 2. the task (a fine-tuned actor's own), or only an evaluation ---------------------------------
    args, actor_state, env_cfg = training_task(args)
    if args.eval_checkpoint:
        return evaluate_checkpoint(args, device)

    # ---- 3. environments, agent, optimiser, resumed state ------------------------------------------
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, config=env_cfg, pool=args.pool)
    spaces = key_spaces(env_cfg)
    T, N = args.num_steps, args.num_envs
    num_updates = max(1, args.total_timesteps // (T * N * world))
    agent = make_agent(args, env_cfg, spaces, device, actor_state)
    if args.bf16 and device.type == "cpu":  # (on CUDA: autocast of the whole forward pass, below)
        bf16_images([agent.actor.encoder, agent.critic_enc], device, warn=rank == 0)
    anchor = make_anchor(args, agent, actor_state)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    lr, global_step, start_update, wall_offset = args.learning_rate, 0, 1, 0.0
    torch.manual_seed(args.seed + rank)  # different exploration noise on every rank
    episodes_done = torch.zeros(N, dtype=torch.int64, device=device)  # per env: where its random stream is
    curve: list = []
    best = {"success_rate": -1.0}  # the best evaluation so far (its checkpoint: best.pt)
    lifted_at = None  # the step at which the training episodes first lifted (--update-epochs-after-lift)
    lift_window = collections.deque(maxlen=LIFT_WINDOW)  # (episodes ended, of them lifted) per update
    if args.resume:
        ckpt = checkpoints.load(args.resume, device)
        agent.load_state_dict(ckpt["agent"])
        optimizer.load_state_dict(ckpt["optimizer"])
        lr, global_step, start_update = ckpt["learning_rate"], ckpt["global_step"], ckpt["update"] + 1
        wall_offset, curve = ckpt["wall_time"], ckpt["curve"]
        checkpoints.set_rng_state(ckpt["rng"][rank])
        episodes_done = ckpt["episodes"][rank].to(device)
        envs.difficulty = ckpt["difficulty"]
        best = ckpt.get("best", best)
        lifted_at = ckpt.get("lifted_at")
    run = RunLog(args, enabled=rank == 0)  # the run's folder: tensorboard, W&B, summary.json
    run_dir = run.dir

    def checkpoint(update: int, example_obs: dict, wall: float, name: str = "checkpoint.pt") -> None:
        """Every rank's random streams and episode counts, gathered; rank 0 writes (atomically).

        ``best.pt`` (the best evaluation so far) is written by rank 0 alone, from inside its evaluation:
        it holds rank 0's streams only; resume from ``checkpoint.pt``.
        """
        state = {"rng": checkpoints.rng_state(), "episodes": episodes_done.cpu()}
        states = [None] * world
        if world > 1 and name == "checkpoint.pt":
            dist.all_gather_object(states, state)
        else:
            states = [state]
        if rank == 0:
            checkpoints.save(os.path.join(run_dir, name), {
                "kind": "ppo", "agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
                "global_step": global_step, "update": update, "learning_rate": lr, "wall_time": wall,
                "curve": curve, "args": args, "env_config": env_cfg, "policy_keys": agent.actor.encoder.keys,
                "policy_export": export_policy(agent.actor, agent.actor.encoder.keys, example_obs),
                "rng": [s["rng"] for s in states], "episodes": [s["episodes"] for s in states],
                "difficulty": float(getattr(envs, "difficulty", 1.0)), "best": best, "lifted_at": lifted_at})

    # ---- 4. rollout storage on the learner device (images stay uint8) ----------------------------
    obs_buf = {k: torch.zeros((T, N, *sp.shape), dtype=torch.uint8 if sp.dtype == np.uint8 else torch.float32,
                              device=device) for k, sp in spaces.items()}
    actions = torch.zeros((T, N, *envs.single_action_space.shape), device=device)
    logprobs, rewards, values = (torch.zeros((T, N), device=device) for _ in range(3))
    terminated_buf, cut_buf, valid_buf = (torch.zeros((T, N), dtype=torch.bool, device=device) for _ in range(3))

    next_obs, _ = envs.reset(seed=args.seed + 7919 * rank, options={"episodes": episodes_done})
    next_obs = as_dict(next_obs)
    if not args.resume:
        agent.update_norms(next_obs)
    resetting = torch.zeros(N, dtype=torch.bool, device=device)  # next_step: this step only resets
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.bf16 and device.type == "cuda")
    bar = tqdm(range(start_update, num_updates + 1), disable=not args.progress or rank > 0, desc="ppo", unit="upd")
    start_time, start_step = time.time(), global_step
    stats: dict = {}
    # seconds per phase, from the second update of this process on (the first one also pays for warm-up:
    # allocations, oneDNN's kernel choice); host clocks, so on CUDA they show where the host waits
    # (evaluations and checkpoints counted apart: what they cost a run depends on their intervals)
    phases = {"updates": 0, "steps": 0, "env_s": 0.0, "act_s": 0.0, "learn_s": 0.0, "evaluations": 0, "eval_s": 0.0,
              "checkpoints": 0, "checkpoint_s": 0.0}
    update = start_update - 1
    for update in bar:
        # ---- 5. collect a rollout (statistics accumulate on the device: no host sync per step) ------
        term_sums = torch.zeros(len(REWARD_TERMS), device=device)
        ep = torch.zeros(5, device=device)  # episodes, sum of returns, of lengths, of successes, of lifts
        timed = {"env_s": 0.0, "act_s": 0.0}
        for t in range(T):
            global_step += N * world
            for k in obs_buf:
                obs_buf[k][t] = next_obs[k]
            valid_buf[t] = ~resetting
            t0 = time.perf_counter()
            with torch.no_grad(), autocast:
                action, logprob, _, value, _ = agent.get_action_and_value(next_obs)
            actions[t], logprobs[t], values[t] = action, logprob.float(), value.float()
            t1 = time.perf_counter()
            next_obs, reward, terminated, truncated, info = envs.step(action.clamp(-1.0, 1.0))
            next_obs = as_dict(next_obs)
            timed["act_s"] += t1 - t0
            timed["env_s"] += time.perf_counter() - t1
            rewards[t], terminated_buf[t], cut_buf[t] = reward, terminated, terminated | truncated
            resetting = terminated | truncated
            episodes_done += resetting
            term_sums += torch.stack([info[f"reward/{k}"].mean() for k in REWARD_TERMS]) / T
            ended, epi = info["_episode_stats"].float(), info["episode_stats"]
            ep += torch.stack([ended.sum(), (epi["r"] * ended).sum(), (epi["l"] * ended).sum(),
                               (epi["success"] * ended).sum(), (epi["lifted"] * ended).sum()])

        # ---- 6. advantages (GAE): a time-out bootstraps from its true final observation ------------
        learn_start = time.perf_counter()
        with torch.no_grad(), autocast:
            next_value = agent.get_value(next_obs).float()
        advantages, returns = compute_advantages(args, agent, rewards, values, next_value, terminated_buf, cut_buf)
        valid = valid_buf.reshape(-1)  # the reset step after an episode end is no transition
        agent.value_norm.update(returns.reshape(-1)[valid])
        norm_returns = (returns - agent.value_norm.mean) / torch.sqrt(agent.value_norm.var + 1e-8)

        # ---- 7. optimise the policy and the value function ------------------------------------------
        batch = {"obs": {k: v_.reshape(-1, *v_.shape[2:]) for k, v_ in obs_buf.items()},
                 "act": actions.reshape(-1, actions.shape[-1]), "logp": logprobs.reshape(-1),
                 "adv": advantages.reshape(-1), "ret": norm_returns.reshape(-1), "val": values.reshape(-1)}
        idx = valid.nonzero().squeeze(-1)
        clipfracs = []
        epochs = args.update_epochs if lifted_at is None else args.update_epochs_after_lift
        for _ in range(epochs):
            kls = []
            # the same number of minibatches on every rank, so the all-reduces pair up
            for mb in idx[torch.randperm(len(idx), device=device)].tensor_split(args.num_minibatches):
                loss, parts = ppo_loss(args, agent, batch, mb, anchor, autocast,
                                       warmup=update <= args.critic_warmup_updates)
                apply_gradients(args, agent, optimizer, loss, world)
                kls.append(parts["approx_kl"])
                clipfracs.append(parts["clipfrac"])
            kl = torch.stack(kls).mean()
            if world > 1:
                dist.all_reduce(kl)
                kl /= world
            if args.lr_schedule == "adaptive" and update > args.critic_warmup_updates:  # one host sync per epoch
                # (not while the actor waits: its KL is 0 then, and the rate would climb to the ceiling)
                kl_value = kl.item()
                if kl_value > 2.0 * args.kl_target:
                    lr = max(lr / 1.5, 1e-6)
                elif kl_value < 0.5 * args.kl_target:
                    lr = min(lr * 1.5, args.max_learning_rate)
                for group in optimizer.param_groups:
                    group["lr"] = lr

        # the observation statistics move only now: a rollout and its update see the same normalisation,
        # so the probability ratio starts at exactly 1
        agent.update_norms({k: batch["obs"][k][idx] for k in agent.vector_keys})
        if update > start_update:
            phases.update(updates=phases["updates"] + 1, steps=phases["steps"] + T * N * world,
                          env_s=phases["env_s"] + timed["env_s"], act_s=phases["act_s"] + timed["act_s"],
                          learn_s=phases["learn_s"] + time.perf_counter() - learn_start)

        # ---- 8. logging, evaluation, checkpoints (one host sync per update) ----------------------------
        wall = wall_offset + time.time() - start_time
        y_pred, y_true = batch["val"][idx], batch["ret"][idx]
        explained_var = (1 - (y_true - y_pred).var() / y_true.var()).item() if y_true.var() > 0 else float("nan")
        sps = int((global_step - start_step) / (time.time() - start_time))
        n_ep, ret_sum, len_sum, succ_sum, lift_sum = ep.tolist()
        if args.update_epochs_after_lift is not None and lifted_at is None:
            counts = ep[[0, 4]]  # (indexing with a list copies: the all-reduce leaves ep alone)
            if world > 1:  # every rank switches at the same update, or the gradient all-reduces would not pair up
                dist.all_reduce(counts)
            lift_window.append(counts.tolist())
            ended, lifted = map(sum, zip(*lift_window))
            if len(lift_window) == LIFT_WINDOW and ended > 0 and lifted / ended >= LIFT_RATE:
                lifted_at = global_step
                tqdm.write(f"lifted {lifted / ended:.2f} of the last {int(ended)} training episodes at step "
                           f"{global_step}: {args.update_epochs_after_lift} epochs per update from now on")
        if n_ep > 0:
            stats = {"episodic_return": ret_sum / n_ep, "episodic_length": len_sum / n_ep,
                     "success_rate": succ_sum / n_ep, "lifted_rate": lift_sum / n_ep}
        stats.update(global_step=global_step, update=update, sps=sps, wall_time_s=round(wall, 1), phases=phases)
        out_of_time = args.time_limit_s is not None and wall >= args.time_limit_s
        last = update == num_updates or out_of_time
        if run.enabled:
            scalars = {"charts/SPS": sps, "charts/learning_rate": lr, "charts/update_epochs": epochs,
                       "charts/curriculum_difficulty": getattr(envs, "difficulty", 1.0),
                       **{f"losses/{LOSS_SCALARS.get(k, k)}": x.item() for k, x in parts.items()
                          if k not in ("approx_kl", "clipfrac")},
                       "losses/approx_kl": kl.item(),
                       "losses/clipfrac": torch.stack(clipfracs).mean().item(),
                       "perf/env_steps_per_s": T * N / max(timed["env_s"], 1e-9),
                       "perf/policy_steps_per_s": T * N / max(timed["act_s"], 1e-9),
                       "perf/learner_samples_per_s": T * N / max(time.perf_counter() - learn_start, 1e-9),
                       "losses/explained_variance": explained_var,
                       **{f"reward/{k}": x for k, x in zip(REWARD_TERMS, term_sums.tolist())}}
            if n_ep > 0:
                scalars.update({f"charts/{k}": stats[k] for k in ("episodic_return", "episodic_length",
                                                                   "success_rate", "lifted_rate")})
            run.scalars(scalars, global_step)
            bar.set_postfix(sps=sps, ret=f"{stats.get('episodic_return', float('nan')):.1f}",
                            lifted=f"{stats.get('lifted_rate', float('nan')):.2f}",
                            success=f"{stats.get('success_rate', float('nan')):.2f}",
                            # the bar's own ETA counts every update to --total-timesteps; a time limit ends sooner
                            **({"time_left": f"{max(args.time_limit_s - wall, 0.0) / 60:.0f}min"}
                               if args.time_limit_s is not None else {}))
            if (args.eval_interval and update % args.eval_interval == 0) or last:
                eval_start = time.perf_counter()
                result = evaluate_in_training(args, agent, env_cfg, envs, device)
                phases.update(evaluations=phases["evaluations"] + 1,
                              eval_s=phases["eval_s"] + time.perf_counter() - eval_start)
                curve.append({"global_step": global_step, "wall_time_s": round(wall, 1), **result,
                              "train_success_rate": stats.get("success_rate")})
                evals = {k: result[k] for k in ("success_rate", "lifted_rate", "mean_return",
                                                "success_rate_at_difficulty") if k in result}
                run.scalars({f"eval/{k}": x for k, x in evals.items()}, global_step)
                run.scalars({f"eval_by_wall_time/{k}": x for k, x in evals.items()}, int(wall))
                stats["eval"] = result
                if result["success_rate"] > best["success_rate"]:
                    best = {"success_rate": result["success_rate"], "global_step": global_step, "update": update}
                    checkpoint(update, next_obs, wall, "best.pt")
                stats["best"] = best
        if update % args.checkpoint_interval == 0 or last:
            checkpoint_start = time.perf_counter()
            checkpoint(update, next_obs, wall)
            phases.update(checkpoints=phases["checkpoints"] + 1,
                          checkpoint_s=phases["checkpoint_s"] + time.perf_counter() - checkpoint_start)
            if run.enabled and args.capture_video:
                run_episodes(deterministic(agent.actor), eval_config(env_cfg), 1, args.seed, device,
                             os.path.join(run_dir, "videos", f"step_{global_step}.mp4"))
        if out_of_time:
            break
    envs.close()
    stats["image_bf16"] = agent.actor.encoder.image_bf16  # what --bf16 became on this machine
    run.close(stats, curve)
    stats.update(run_dir=run_dir, curve=curve,
                 losses={k: x.item() for k, x in parts.items() if k not in ("approx_kl", "clipfrac")})
    if world > 1:
        check_replicas(agent, world, rank, stats["update"])
    return stats


# ------------------------------------------------------------------------------------------------
# Recipes: the training behind every shipped policy, and the paper's layouts
# ------------------------------------------------------------------------------------------------
CPU_TEACHER = dict(episode_length_s=4.0)
"""The CPU task of the State teachers and everything distilled from them: 4 s episodes (the paper's are 10 s)."""
DEPTH_SCRATCH_TASK = EnvConfig(sensors=SensorsConfig(depth=CameraConfig(width=32, height=32, fovy=30.0,
                                                                         target=(0.6, 0.0, 0.18))),
                               reward=RewardConfig(goal_sharpness=5.0, success=2.0), **CPU_TEACHER)
"""The task of end-to-end depth PPO from scratch: 32x32 at 30 degrees, aimed at the goal box; a sharper goal term."""
DEPTH_SCRATCH_PPO = dict(env_id="DexGrasp-Depth-v0", num_envs=256, gamma=0.99, init_log_std=-0.5, aux_coef=1.0,
                         bf16=True, max_learning_rate=1e-3, separate_grad_clip=True, total_timesteps=40_000_000,
                         time_limit_s=7200, eval_interval=50, eval_episodes=64, checkpoint_interval=25)
"""PPO from scratch on pixels, 2 hours on 2 CPU cores (``depth-scratch`` and its robust variants)."""


def depth_scratch_towards_full(run_dir: str, curriculum: CurriculumConfig) -> Args:
    """``depth-scratch`` with the masked depth input, its randomization widened towards ``RandomizationConfig.full()``
    by ``curriculum`` (the depth camera model's holes would read as objects through the per-pixel input)."""
    return Args(**DEPTH_SCRATCH_PPO, adr=True, depth_encoding="masked", run_dir=run_dir,
                env=dataclasses.replace(DEPTH_SCRATCH_TASK, randomization=RandomizationConfig(curriculum=curriculum)))


RECIPES = {
    "state-teacher": (
        "State teacher on procedural shapes, 45 min on 2 CPU cores (shipped: state-teacher, procedural-teacher)",
        Args(num_envs=512, env=EnvConfig(object_set="procedural", **CPU_TEACHER), gamma=0.99, init_log_std=-0.5,
             total_timesteps=20_000_000, time_limit_s=2700, eval_interval=100, checkpoint_interval=100,
             run_dir="runs/procedural-teacher")),
    "state-teacher-v1": (
        "State teacher on the primitives, 30 min on 2 CPU cores (shipped: state-teacher-v1)",
        Args(num_envs=512, env=EnvConfig(**CPU_TEACHER), gamma=0.99, init_log_std=-0.5,
             total_timesteps=12_000_000, time_limit_s=1800, eval_interval=100, run_dir="runs/state-teacher")),
    "depth-scratch": (
        "end-to-end Depth PPO from scratch: 32x32, 30 deg camera aimed at the goal box, 2 h on 2 CPU cores "
        "(shipped: depth-scratch)",
        Args(**DEPTH_SCRATCH_PPO, run_dir="runs/depth-scratch", env=DEPTH_SCRATCH_TASK)),
    "depth-scratch-hour": (
        "depth-scratch within an hour: 2 PPO epochs per update instead of 4 (half the learner's time), evaluations "
        "every 100 updates, 60 min on 2 CPU cores",
        Args(**{**DEPTH_SCRATCH_PPO, "update_epochs": 2, "eval_interval": 100, "time_limit_s": 3600},
             run_dir="runs/depth-scratch-hour", env=DEPTH_SCRATCH_TASK)),
    "depth-scratch-hour-hybrid": (
        "depth-scratch-hour with 4 PPO epochs per update until the training episodes lift, then 2 (fewer steps to "
        "the first lift, then the faster climb per minute), 60 min on 2 CPU cores",
        Args(**{**DEPTH_SCRATCH_PPO, "update_epochs_after_lift": 2, "eval_interval": 100, "time_limit_s": 3600},
             run_dir="runs/depth-scratch-hour-hybrid", env=DEPTH_SCRATCH_TASK)),
    "depth-scratch-hour-estimate": (
        "depth-scratch-hour with the auxiliary object position also an input of the actor's MLP (--aux-input: an "
        "explicit estimate of where the object is, as the State policy reads it), 60 min on 2 CPU cores",
        Args(**{**DEPTH_SCRATCH_PPO, "update_epochs": 2, "eval_interval": 100, "time_limit_s": 3600},
             aux_input=True, run_dir="runs/depth-scratch-hour-estimate", env=DEPTH_SCRATCH_TASK)),
    "depth-robust": (
        "depth-scratch's second stage: PPO under ADR towards RandomizationConfig.full() (camera pose 3 cm / 3 deg, "
        "the depth camera model, physics, pushes, observation noise), 1 h on 2 CPU cores",
        Args(env_id="DexGrasp-Depth-v0", init_actor="depth-scratch", adr=True, num_envs=256, gamma=0.99,
             critic_warmup_updates=20, learning_rate=5e-5, max_learning_rate=1e-4, anchor_coef=1.0, ent_coef=0.0,
             separate_grad_clip=True, aux_coef=1.0, bf16=True, depth_encoding="masked",
             env=EnvConfig(randomization=RandomizationConfig(curriculum=CurriculumConfig(threshold=0.3))),
             total_timesteps=20_000_000, time_limit_s=3600, eval_interval=50, eval_episodes=64,
             checkpoint_interval=25, run_dir="runs/depth-robust")),
    "depth-robust-scratch": (
        "end-to-end Depth PPO from scratch under the paper's randomization: depth-scratch's task and settings, the "
        "masked depth input, and a schedule from nominal to RandomizationConfig.full() over 8 M steps, 2 h on 2 CPU "
        "cores",
        depth_scratch_towards_full("runs/depth-robust-scratch", CurriculumConfig(schedule_steps=8_000_000))),
    "depth-robust-gated": (
        "end-to-end Depth PPO from scratch under the paper's randomization: depth-robust-scratch with the schedule "
        "gated on success (its clock runs only while the training success is at least 0.1), nominal to "
        "RandomizationConfig.full() over 4 M gated steps, 2 h on 2 CPU cores",
        depth_scratch_towards_full("runs/depth-robust-gated",
                                   CurriculumConfig(schedule_steps=4_000_000, schedule_gate=0.1))),
    "depth-robust-spread": (
        "end-to-end Depth PPO from scratch under the paper's randomization: depth-robust-gated with each episode at "
        "its own difficulty between nominal and the curriculum's level (CurriculumConfig.spread='uniform'), 3 h on 2 "
        "CPU cores",
        dataclasses.replace(
            depth_scratch_towards_full("runs/depth-robust-spread", CurriculumConfig(
                schedule_steps=4_000_000, schedule_gate=0.1, spread="uniform")), time_limit_s=10800)),
    "depth-teacher": (
        "PPO fine-tuning (KL-anchored) of the DAgger depth student `dagger.py depth-student`, 30 min on 2 CPU "
        "cores (shipped: depth-teacher)",
        Args(env_id="DexGrasp-Depth-v0", init_actor="runs/depth-student/checkpoint.pt", num_envs=256, gamma=0.99,
             critic_warmup_updates=20, learning_rate=5e-5, max_learning_rate=1e-4, anchor_coef=1.0, ent_coef=0.0,
             separate_grad_clip=True, total_timesteps=5_000_000, time_limit_s=1800, eval_interval=20,
             checkpoint_interval=20, run_dir="runs/depth-teacher")),
    "disaggregated": (
        "the paper's layout on a 4-GPU node: 8,192 Depth envs at 160x120 on 3 simulator GPUs, one learner GPU",
        Args(env_id="DexGrasp-Depth-v0", num_envs=8192, bf16=True, run_dir="runs/disaggregated",
             pool=PoolConfig(sim_devices=("cuda:1", "cuda:2", "cuda:3"), learner_device="cuda:0"))),
    "data-parallel": (
        "the paper's baseline (torchrun --nproc_per_node=4): every GPU simulates 1,024 Depth envs and learns",
        Args(env_id="DexGrasp-Depth-v0", layout="data-parallel", num_envs=1024, bf16=True,
             run_dir="runs/data-parallel", pool=PoolConfig(learner_device="cuda"))),
    "multi-node": (
        "disaggregated across machines under torchrun (--nnodes N --rdzv-backend c10d): rank 0 learns, every other "
        "rank serves a simulator worker (CPU; --sim-devices gives one device per worker rank)",
        Args(env_id="DexGrasp-Depth-v0", num_envs=1024, bf16=True, run_dir="runs/multi-node",
             pool=PoolConfig(launch="torchrun"))),
}


if __name__ == "__main__":
    main(recipe_cli(Args, RECIPES, __doc__, "algos/ppo.py"))
