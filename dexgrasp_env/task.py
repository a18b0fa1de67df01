"""The grasp-and-lift task on a batch of worlds: resets, actions, observations, rewards, episodes.

:class:`GraspTask` runs ``num_envs`` environments on one device (one shard of a vector env) on
either physics backend (:mod:`dexgrasp_env.sim`), which it cannot tell apart. Everything stays a
torch tensor on that device. On CUDA no step synchronises with the host (except the optional action
check and the second render that SAME_STEP autoreset needs when an episode ended); on the CPU, where
a host check costs nothing, work for resets is skipped in steps where no environment resets.

Autoreset follows Gymnasium 1.x:

* ``next_step``: an environment that ended is reset by the *next* ``step`` call, which ignores
  its action and returns its first observation with zero reward and no flags.
* ``same_step``: it is reset in the same call; its last observation is in ``info["final_obs"]``.
* ``disabled``: it is reset only by ``reset(mask=...)``.

A world whose physics diverges (non-finite or exploding state, :func:`~dexgrasp_env.rewards.has_diverged`)
ends its episode like a time-out in every mode: the step returns its *last valid* observation (its
broken state is never observed) with ``truncated=True``, zero reward and ``info["diverged"]``; then
the mode's usual reset follows. Its simulator state is restarted at once, so the broken state is
never stepped or rendered again either.

The pieces live in their own modules: actions (:mod:`dexgrasp_env.actions`), observation layouts
(:mod:`dexgrasp_env.spaces`), reward terms (:mod:`dexgrasp_env.rewards`) and randomization
(:mod:`dexgrasp_env.randomization`).
"""

from __future__ import annotations

import math

import torch

from dexgrasp_env import rng
from dexgrasp_env.actions import action_dim, make_action_map
from dexgrasp_env.config import AUTORESET_MODES, DEPTH_NOISE_FIELDS, EnvConfig
from dexgrasp_env.depth_noise import corrupt_depth
from dexgrasp_env.randomization import STEP_DRAWS, Randomizer, per_world, split_draws
from dexgrasp_env.rewards import (
    divergence_limits, has_diverged, in_success_region, is_lifted, object_lost, reward_terms,
)
from dexgrasp_env.robot import objects
from dexgrasp_env.robot.scene import ARM_HOME, HAND_CURLED, HAND_HOME, TABLE_TOP_Z
from dexgrasp_env.rotations import canonical_quat, quat_from_axis_angle, quat_mul, quat_rotate
from dexgrasp_env.sensors import DEPTH_KEYS, camera_of
from dexgrasp_env.sim import make_simulator

def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


#: Uniform-number slots of the per-step image noise (far from the :data:`STEP_DRAWS` slots).


class GraspTask:
    """``num_envs`` grasp-and-lift environments on one device.

    Args:
        cfg: The task config.
        num_envs: Number of environments (worlds).
        device: Simulation device (``"cpu"`` or ``"cuda:<k>"``).
        env_offset: Global index of the first environment; random numbers depend on the global
            index, so a split of the environments across workers changes nothing.
        autoreset_mode: ``"next_step"``, ``"same_step"`` or ``"disabled"``.
    """

    def __init__(self, cfg: EnvConfig, num_envs: int, device: str | torch.device = "cpu", *, env_offset: int = 0,
                 autoreset_mode: str = "next_step") -> None:
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode={autoreset_mode!r} is unknown; expected one of {AUTORESET_MODES}")
        self.cfg = cfg
        self.autoreset_mode = autoreset_mode
        self.sim = sim = make_simulator(cfg, num_envs, device, cameras=cfg.cameras_needed())
        self.num_envs = n = sim.num_worlds
        self.device = dev = sim.device
        self.action_map = make_action_map(cfg, sim)
        self.action_dim = action_dim(cfg)
        self.randomizer = Randomizer(cfg, sim)
        self.obs_keys = cfg.obs_keys()
        cur = cfg.randomization.curriculum
        self.difficulty = cur.initial_difficulty if cur.enabled else 1.0
        """The curriculum's level (set by the vector env, or the pool, as it widens)."""
        self._spread = cur.enabled and cur.spread == "uniform"
        self.world_difficulty = torch.zeros(num_envs, device=sim.device) if self._spread else None
        """With ``CurriculumConfig.spread="uniform"``: ``(N,)``, each world's episode's own difficulty, drawn at its
        reset between 0 and the level; else ``None`` (every world at the level)."""
        # a host check is free on the CPU: skip reset work when nothing resets (never on CUDA)
        self._host_checks = dev.type == "cpu"
        f32 = dict(device=dev, dtype=torch.float32)
        self.env_index = torch.arange(env_offset, env_offset + n, device=dev, dtype=torch.int64)
        self.seed = 0
        self._base_key = rng.hash_keys(0, self.env_index)
        self.episode = torch.zeros(n, device=dev, dtype=torch.int64)
        self.step_count = torch.zeros(n, device=dev, dtype=torch.int64)
        self.needs_reset = torch.zeros(n, device=dev, dtype=torch.bool)
        self._none = torch.zeros(n, device=dev, dtype=torch.bool)
        self.targets = torch.zeros(n, sim.mjm.nu, **f32)
        self.last_action = torch.zeros(n, self.action_dim, **f32)
        self.prev_action = torch.zeros(n, self.action_dim, **f32)
        self.goal = torch.zeros(n, 3, **f32)
        self.object_kind = torch.zeros(n, dtype=torch.int64, device=dev)
        self.object_size = torch.zeros(n, 3, **f32)
        self.object_mass = torch.zeros(n, **f32)
        self.object_friction = torch.ones(n, **f32)
        self.rest_z = torch.zeros(n, **f32)
        self.object_top = torch.zeros(n, **f32)
        self.object_block = torch.zeros(n, len(objects.KINDS) + 5, **f32)
        self._points = cfg.features == "points"
        self.object_points = torch.zeros(n, *self.randomizer.points.shape[1:], **f32)  # object frame
        self.episode_return = torch.zeros(n, **f32)
        self.speed_limits = divergence_limits(len(ARM_HOME + HAND_HOME), sim.object_qvel, sim.mjm.nv).to(dev)
        self.curled = torch.tensor(HAND_CURLED, **f32)
        self.home = torch.tensor(ARM_HOME + HAND_HOME, **f32)
        self.joint_low = sim.joint_range[:, 0].to(dev)
        self.joint_high = sim.joint_range[:, 1].to(dev)
        self.workspace_low = torch.tensor(cfg.workspace_low, **f32)
        self.workspace_high = torch.tensor(cfg.workspace_high, **f32)
        self.spawn_low = torch.tensor(cfg.object_spawn_low, **f32)
        self.spawn_high = torch.tensor(cfg.object_spawn_high, **f32)
        self.goal_low, self.goal_high = torch.tensor(cfg.goal_low, **f32), torch.tensor(cfg.goal_high, **f32)
        self.robot_geoms = sim.robot_geoms.to(dev)
        self._z_axis = torch.tensor([0.0, 0.0, 1.0], **f32)
        self._lying = torch.tensor([math.sqrt(0.5), math.sqrt(0.5), 0.0, 0.0], **f32)  # capsules lie on their side
        self._upright = torch.tensor([1.0, 0.0, 0.0, 0.0], **f32)
        self._scale_row = torch.tensor(list(cfg.reward.scales().values()), **f32)
        rc = cfg.randomization
        self._obs_noise = rc.joint_pos_noise is not None or rc.object_pos_noise is not None
        self._depth_noise = any(getattr(rc, f) is not None for f in DEPTH_NOISE_FIELDS)
        # the last observation: a next_step reset and a diverged world's last valid view need it
        self._obs: dict[str, torch.Tensor] | None = None

    # ----------------------------------------------------------------------------------------
    # random numbers: environment i's depend on (seed, i, its episode, its step) only
    # ----------------------------------------------------------------------------------------
    def seed_all(self, seed: int) -> None:
        """Restart every environment's random stream from ``seed``."""
        self.seed = int(seed)
        self._base_key = rng.hash_keys(self.seed, self.env_index)
        self.episode.zero_()

    def _noise_key(self) -> torch.Tensor:
        """The key of the current (episode, step) of every environment, for per-step noise."""
        return rng.fold(rng.fold(self._base_key, self.episode), self.step_count)

    def _noise_draws(self) -> dict[str, torch.Tensor]:
        """Per-step noise numbers (:data:`~dexgrasp_env.randomization.STEP_DRAWS`) of the current step."""
        return split_draws(rng.uniform(self._noise_key(), sum(n for _, n in STEP_DRAWS)), STEP_DRAWS)

    # ----------------------------------------------------------------------------------------
    # resets
    # ----------------------------------------------------------------------------------------
    def _reset(self, mask: torch.Tensor) -> None:
        """Start a new episode in the worlds of ``mask`` (``(N,)`` bool); others are untouched."""
        if self._host_checks and not bool(mask.any()):
            return
        cfg, rz = self.cfg, self.randomizer
        self.episode += mask.long()
        key = rng.fold(self._base_key, self.episode)
        u = split_draws(rng.uniform(key, sum(n for _, n in rz.draws)), rz.draws)
        if self._spread:
            self.world_difficulty = torch.where(mask, self.difficulty * u["difficulty"][:, 0], self.world_difficulty)
        difficulty = self._difficulty()
        draw = rz.draw_objects(u, self.env_index, difficulty)
        self.sim.set_objects(mask, draw.index)
        for name, value, index in rz.object_fields(draw) + rz.appearance_fields(u, difficulty):
            self.sim.set_field(name, mask, value, index)
        m1 = mask.unsqueeze(1)
        rest = draw.bottom + TABLE_TOP_Z
        # robot start: home pose with noise on the arm
        q = self.home.expand(self.num_envs, -1).clone()
        q[:, :7] += (2.0 * u["arm"] - 1.0) * cfg.arm_start_noise
        q = torch.minimum(torch.maximum(q, self.joint_low), self.joint_high)
        # object on the table: random position and yaw; capsules lie on their side
        spawn = u["spawn"]
        xy = self.spawn_low + (self.spawn_high - self.spawn_low) * spawn[:, :2]
        pos = torch.cat([xy, (rest + 0.002).unsqueeze(1)], -1)
        yaw = quat_from_axis_angle(self._z_axis.expand(self.num_envs, 3), (2 * spawn[:, 2] - 1) * math.pi)
        tilt = torch.where((draw.kind == objects.CAPSULE).unsqueeze(1), self._lying, self._upright)
        goal = self.goal_low + (self.goal_high - self.goal_low) * u["goal"]
        self.sim.reset_worlds(mask, torch.cat([q, pos, quat_mul(yaw, tilt)], dim=1), q, goal.unsqueeze(1))

        self.object_top = torch.where(mask, draw.top, self.object_top)
        points = rz.points[draw.index] * draw.scale.view(-1, 1, 1)
        self.object_points = torch.where(m1.unsqueeze(-1), points, self.object_points)
        self.object_kind = torch.where(mask, draw.kind, self.object_kind)
        self.object_size = torch.where(m1, draw.size, self.object_size)
        self.object_mass = torch.where(mask, draw.mass, self.object_mass)
        self.object_friction = torch.where(mask, draw.friction, self.object_friction)
        # the state's object block, fixed for the episode: kind (one-hot), size, mass, friction
        # (a mesh has kind -1: no primitive kind, a zero one-hot; its block serves for mass and friction only)
        kind = torch.nn.functional.one_hot(self.object_kind.clamp_min(0), len(objects.KINDS)).float()
        self.object_block = torch.cat([kind * (self.object_kind >= 0).unsqueeze(1),
                                       self.object_size, self.object_mass.unsqueeze(1),
                                       self.object_friction.unsqueeze(1)], dim=1)
        self.rest_z = torch.where(mask, rest, self.rest_z)
        self.targets = torch.where(m1, q, self.targets)
        self.goal = torch.where(m1, goal, self.goal)
        zero = torch.zeros_like(self.last_action)
        self.last_action = torch.where(m1, zero, self.last_action)
        self.prev_action = torch.where(m1, zero, self.prev_action)
        self.step_count = torch.where(mask, torch.zeros_like(self.step_count), self.step_count)
        self.episode_return = torch.where(mask, torch.zeros_like(self.episode_return), self.episode_return)
        self.needs_reset = self.needs_reset & ~mask

    def reset(self, seed: int | None = None, mask: torch.Tensor | None = None, ended: bool = False,
              episodes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Reset the environments in ``mask`` (all when ``None``) and return the observation.

        Args:
            seed: Restart every environment's random stream from this seed (Gymnasium's
                ``reset(seed=...)``): environment ``i`` then depends only on ``(seed, i)``.
            mask: ``(N,)`` bool of environments to reset.
            ended: The reset ends episodes the learner has not seen end (a restarted worker): the
                learner is told ``truncated`` first, so in ``next_step`` mode the next step resets
                these environments again and returns their first observation, like any ended episode.
            episodes: ``(N,)`` episodes each environment has run (after ``seed``): the reset starts the
                next one, so a resumed run continues every environment's random stream instead of
                repeating it.
        """
        if seed is not None:
            self.seed_all(seed)
        if mask is None:
            mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        if episodes is not None:
            self.episode = torch.where(mask, episodes.to(self.device, torch.int64), self.episode)
        self._reset(mask)
        if ended and self.autoreset_mode != "same_step":
            self.needs_reset = self.needs_reset | mask
        self.sim.forward()
        self._obs = self._observe()
        return self._obs

    def warmup(self) -> None:
        """Load (or compile) every kernel a step needs, then leave a clean, freshly reset state.

        Workers call this before they report ready, so that the learner's reply timeout only
        ever covers steady-state work, never a minute of first-time kernel compilation.
        """
        self.reset(seed=0)
        self.step(torch.zeros(self.num_envs, self.action_dim, device=self.device))
        self.needs_reset.zero_()
        self.reset(seed=0)

    # ----------------------------------------------------------------------------------------
    # stepping
    # ----------------------------------------------------------------------------------------
    def step(self, actions: torch.Tensor):
        """Advance every environment one control step.

        Args:
            actions: ``(N, action_dim)`` float tensor on this task's device, in ``[-1, 1]`` (clipped).

        Returns:
            ``(obs, reward, terminated, truncated, info)`` as batched tensors; ``obs`` is a dict
            by key; ``info`` holds ``success``, ``lifted``, ``diverged``, ``reward/<term>``,
            ``episode_stats`` (``r``, ``l``, ``success``, ``lifted`` of the episodes that ended) with
            ``_episode_stats``, and in ``same_step`` mode ``final_obs`` with its mask ``_final_obs``.
        """
        cfg, sim = self.cfg, self.sim
        next_step = self.autoreset_mode == "next_step"
        resetting = self.needs_reset if next_step else self._none
        actions = actions.to(torch.float32).clamp(-1.0, 1.0)
        if next_step:  # the action of a resetting environment is ignored
            actions = actions.masked_fill(resetting.unsqueeze(1), 0.0)
        self.prev_action, self.last_action = self.last_action, actions
        self.targets = self.action_map.targets(self.targets, actions)
        sim.ctrl.copy_(self.targets)
        if cfg.randomization.object_push_velocity is not None:
            self._push_object(self._noise_draws()["push"])
        sim.step()
        self.step_count += 1

        diverged = has_diverged(sim.qpos, sim.qvel, self.speed_limits)
        any_diverged = bool(diverged.any()) if self._host_checks else True
        clean = torch.nan_to_num if any_diverged else _identity
        object_pos = clean(sim.object_pos)
        rise = object_pos[:, 2] - self.rest_z
        success = in_success_region(object_pos, self.goal, cfg.success_threshold)
        lifted = is_lifted(rise, cfg.lift_height)
        terms = reward_terms(clean(sim.fingertip_pos), object_pos, self.goal, rise, clean(sim.hand_q), self.curled,
                             actions, self.prev_action, success, cfg.reward)
        ok = ~diverged
        terminated = object_lost(object_pos, self.workspace_low, self.workspace_high) & ok
        truncated = (self.step_count >= cfg.max_episode_steps) | diverged
        # environments reset at the start of this step (next_step mode) report a fresh start
        quiet = resetting | diverged
        weighted = (torch.stack(list(terms.values()), dim=1) * self._scale_row).masked_fill(quiet.unsqueeze(1), 0.0)
        # one row reduction per environment, in a fixed order whatever the batch size: environment
        # i must not depend on how many others share its worker
        reward = weighted.sum(1)
        if next_step:
            terminated, truncated = terminated & ~resetting, truncated & ~resetting
        done = terminated | truncated
        self.episode_return += reward
        valid = ~quiet
        info: dict = {
            "success": success & valid,
            "lifted": lifted & valid,
            "diverged": diverged & ~resetting if next_step else diverged,
            "episode_stats": {"r": self.episode_return.clone(), "l": self.step_count.clone(),
                              "success": success & ok, "lifted": lifted & ok},
            "_episode_stats": done,
        }
        for k, v in zip(terms, weighted.unbind(1)):
            info[f"reward/{k}"] = v

        # resets now: next_step envs that ended last step, diverged worlds (their broken state must
        # never be stepped or rendered), and in same_step mode every env that ended
        reset_now = resetting | diverged
        final_obs = None
        if self.autoreset_mode == "same_step":
            final_obs = self._last_valid(self._observe(), diverged, any_diverged)
            info["final_obs"], info["_final_obs"] = final_obs, done
            reset_now = reset_now | done
        any_reset = bool(reset_now.any()) if self._host_checks else True
        if any_reset:
            self._reset(reset_now)
            sim.forward()  # the step left the frames of the new state; reset worlds need theirs
        if next_step:
            self.needs_reset = done
        elif self.autoreset_mode == "disabled":
            self.needs_reset = self.needs_reset | done
        obs = final_obs if final_obs is not None and not any_reset else self._observe()
        if self.autoreset_mode != "same_step":
            obs = self._last_valid(obs, diverged, any_diverged)
        self._obs = obs
        return obs, reward, terminated, truncated, info

    def _last_valid(self, obs: dict[str, torch.Tensor], diverged: torch.Tensor,
                    any_diverged: bool) -> dict[str, torch.Tensor]:
        """``obs`` with the rows of diverged worlds replaced by their previous observation."""
        if self._obs is None or not any_diverged:
            return obs
        return {k: torch.where(diverged.view(-1, *([1] * (v.dim() - 1))), self._obs[k], v) for k, v in obs.items()}

    def _push_object(self, u: torch.Tensor) -> None:
        rc = self.cfg.randomization
        push = u[:, 0] < rc.object_push_probability
        direction = torch.nn.functional.normalize(u[:, 1:] - 0.5, dim=-1)
        kick = direction * rc.object_push_velocity * per_world(self._difficulty(), 2)
        lin = self.sim.object_linvel
        lin.copy_(torch.where(push.unsqueeze(1), lin + kick, lin))

    # ----------------------------------------------------------------------------------------
    # observations
    # ----------------------------------------------------------------------------------------
    def _observe(self) -> dict[str, torch.Tensor]:
        """The observation keys of ``cfg.obs_keys()`` (layouts: :mod:`dexgrasp_env.spaces`)."""
        sim, rc = self.sim, self.cfg.randomization
        n = self.num_envs
        draws = self._noise_draws() if self._obs_noise else None
        joint_pos = sim.joint_pos
        if rc.joint_pos_noise is not None and draws is not None:
            joint_pos = joint_pos + (2.0 * draws["obs_joint"] - 1.0) * (
                rc.joint_pos_noise * per_world(self._difficulty(), 2))
        robot = [joint_pos, sim.joint_vel, sim.palm_pos, canonical_quat(sim.palm_quat),
                 sim.fingertip_pos.reshape(n, 12)]
        out: dict[str, torch.Tensor] = {}
        if "proprio" in self.obs_keys:
            out["proprio"] = torch.cat(robot + [self.goal, self.last_action], dim=-1)
        if "state" in self.obs_keys:
            object_pos = sim.object_pos
            if rc.object_pos_noise is not None and draws is not None:
                object_pos = object_pos + (2.0 * draws["obs_object"] - 1.0) * (
                    rc.object_pos_noise * per_world(self._difficulty(), 2))
            out["state"] = torch.cat(
                robot + [object_pos, canonical_quat(sim.object_quat), sim.object_linvel, sim.object_angvel, self.goal,
                         self.goal - object_pos, self._object_features(object_pos), self.last_action], dim=-1)
        if sim.cameras:
            for key, image in sim.render().items():
                if key in DEPTH_KEYS:
                    out[key] = self._process_depth(image, camera_of(self.cfg.sensors, key).depth_range,
                                                   DEPTH_KEYS.index(key)).unsqueeze(1)
                else:
                    out[key] = image.permute(0, 3, 1, 2).contiguous()
        return {k: out[k] for k in self.obs_keys}

    def _object_features(self, object_pos: torch.Tensor) -> torch.Tensor:
        """The state's object description (:func:`~dexgrasp_env.spaces.state_layout`): kind one-hot, size, mass
        and friction; or the surface points at the object's current pose (world frame, placed at the observed,
        possibly noisy, position), mass and friction."""
        if not self._points:
            return self.object_block
        points = object_pos.unsqueeze(1) + quat_rotate(self.sim.object_quat.unsqueeze(1), self.object_points)
        return torch.cat([points.flatten(1), self.object_block[:, -2:]], dim=-1)

    def _process_depth(self, raw: torch.Tensor, depth_range: tuple[float, float], stream: int = 0) -> torch.Tensor:
        """The depth sensor's image (:func:`~dexgrasp_env.depth_noise.corrupt_depth`: misses and dropped pixels
        read the far end, noise on hits only). Each depth sensor (``stream``: its index in
        :data:`~dexgrasp_env.sensors.DEPTH_KEYS`) draws its own noise."""
        key = self._noise_key() if self._depth_noise else None
        return corrupt_depth(raw, depth_range, self.cfg.randomization, self._difficulty(), key, stream)

    def _difficulty(self):
        """Each world's difficulty (``(N,)``), or the level that every world shares (a float)."""
        return self.world_difficulty if self._spread else self.difficulty

    def close(self) -> None:
        """Release the simulator's native resources (see :meth:`~dexgrasp_env.sim.base.Simulator.close`)."""
        self.sim.close()

    @property
    def last_obs(self) -> dict[str, torch.Tensor] | None:
        """The observation returned by the last ``reset``/``step``."""
        return self._obs
