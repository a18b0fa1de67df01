"""Named recipes: each shipped policy rebuilds from its recipe, and every recipe runs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from dexgrasp_env.config import CurriculumConfig, EnvConfig, PoolConfig, ProceduralConfig, SensorsConfig
from dexgrasp_env.pretrained import POLICY_DIR, available
from dexgrasp_env.sensors import sensors_of_keys
from tests.algos.conftest import ROOT, load_script

ppo, dagger = load_script("ppo"), load_script("dagger")
SCRIPTS = {"algos/ppo.py": ppo, "algos/dagger.py": dagger}


def recipe_task(recipe: dict) -> EnvConfig:
    """The task a recipe trains on (a fine-tuning recipe: the task of the recipe that made its initial actor)."""
    script = SCRIPTS[recipe["script"]]
    args = script.RECIPES[recipe["name"]][1]
    if script is dagger:
        _, keys, teacher_cfg = dagger.load_teacher(args.teacher, "cpu")
        return dagger.task_config(args, keys, teacher_cfg)
    if "after" in recipe:  # ppo.py --init-actor trains on its actor's task
        args = dataclasses.replace(args, env=dataclasses.replace(recipe_task(recipe["after"]), extra_obs=()))
    return ppo.env_config(args)


def comparable(cfg: EnvConfig, keys) -> EnvConfig:
    """``cfg`` without what an evaluation may vary (extra keys, object set and assignment, the curriculum's state,
    the backend and threads) and without the sensors the policy does not read."""
    used = {s.name: getattr(cfg.sensors, s.name) for s in sensors_of_keys(keys)}
    rc = dataclasses.replace(cfg.randomization, curriculum=CurriculumConfig())
    return dataclasses.replace(cfg, extra_obs=(), object_assignment="random", object_set="primitives", shapes=None,
                               procedural=ProceduralConfig(), object_features=cfg.features, randomization=rc,
                               backend="auto", sim_threads=None, render_threads=None,
                               sensors=dataclasses.replace(SensorsConfig(), **used))


@pytest.mark.parametrize("name", available())
def test_shipped_policy_rebuilds_from_its_recipe(name):
    """The recipe's task is the shipped task, field for field (evaluation-only differences aside)."""
    from dexgrasp_env.checkpoints import env_config

    with open(os.path.join(POLICY_DIR, f"{name}.json")) as f:
        meta = json.load(f)
    shipped, keys = env_config(meta["env_config"]), meta["policy_keys"]
    built = recipe_task(meta["recipe"])
    assert built.obs_mode == shipped.obs_mode
    a, b = comparable(built, keys), comparable(shipped, keys)
    diff = {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
            if getattr(a, f.name) != getattr(b, f.name)}
    assert not diff, f"{name}: recipe {meta['recipe']} differs from the shipped task in {diff}"


TINY = dict(num_envs=4, eval_episodes=2, progress=False, time_limit_s=None)


def _tiny_ppo(name: str, run_dir, **kw) -> dict:
    args = ppo.RECIPES[name][1]
    args = dataclasses.replace(args, **TINY, eval_interval=0, checkpoint_interval=100, num_steps=8,
                               total_timesteps=2 * 8 * 4, run_dir=str(run_dir), **kw)
    return ppo.main(dataclasses.replace(args, env=dataclasses.replace(args.env, episode_length_s=0.3)))


def _tiny_dagger(name: str, run_dir, **kw) -> dict:
    args = dagger.RECIPES[name][1]
    return dagger.main(dataclasses.replace(args, **TINY, eval_interval=100, num_steps=8, total_timesteps=2 * 8 * 4,
                                           run_dir=str(run_dir), heldout_envs=2, minibatch_size=16,
                                           updates_per_iteration=2,
                                           env=dataclasses.replace(args.env, episode_length_s=0.3), **kw))


LAYOUT_RECIPES = ("disaggregated", "data-parallel", "multi-node")  # below and in tests/algos/test_multinode.py
AFTER_A_STUDENT = ("depth-teacher",)  # fine-tunes a DAgger student: test_distillation_recipes_run_then_fine_tune


@pytest.mark.parametrize("name", [n for n in ppo.RECIPES if n not in LAYOUT_RECIPES + AFTER_A_STUDENT])
def test_ppo_recipe_runs_two_updates(name, tmp_path):
    stats = _tiny_ppo(name, tmp_path)
    assert stats["global_step"] == 64


def test_ppo_layout_recipes_run_two_updates_on_cpu_devices(tmp_path):
    """``disaggregated`` with a simulator worker on the CPU; ``data-parallel`` under torchrun (1 rank)."""
    stats = _tiny_ppo("disaggregated", tmp_path / "dis", pool=PoolConfig(sim_devices=("cpu",)))
    assert stats["global_step"] == 64
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "algos/ppo.py",
           "data-parallel", "--learner-device", "cpu", "--num-envs", "4", "--num-steps", "8", "--total-timesteps",
           "64", "--eval-episodes", "2", "--no-progress", "--env.sensors.depth.width", "16",
           "--env.sensors.depth.height", "16", "--env.episode-length-s", "0.3", "--run-dir", str(tmp_path / "dp")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    summary = json.load(open(tmp_path / "dp" / "summary.json"))
    assert summary["final"]["global_step"] == 64 and summary["args"]["layout"] == "data-parallel"


def test_distillation_recipes_run_then_fine_tune(tmp_path):
    """Every dagger.py recipe for two iterations; then ``ppo.py depth-teacher`` fine-tunes the depth student."""
    for name in ("stereo-student", "stereo-from-depth-scratch"):
        assert _tiny_dagger(name, tmp_path / name)["global_step"] == 64
    args = dagger.RECIPES["depth-student"][1]
    assert args.use_teacher_task  # its task (episode length included) is the teacher's
    dagger.main(dataclasses.replace(args, **TINY, eval_interval=100, num_steps=8, total_timesteps=64,
                                    run_dir=str(tmp_path / "student"), heldout_envs=2, minibatch_size=16,
                                    updates_per_iteration=2))
    stats = _tiny_ppo("depth-teacher", tmp_path / "teacher", init_actor=str(tmp_path / "student" / "checkpoint.pt"),
                      critic_warmup_updates=1)
    assert stats["global_step"] == 64


def test_help_lists_every_recipe_and_an_override_wins():
    for script in SCRIPTS:
        out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0
        for name in SCRIPTS[script].RECIPES:
            assert f"  {name} " in out.stdout, (script, name)
    from dexgrasp_env.recipes import recipe_cli

    args = recipe_cli(ppo.Args, ppo.RECIPES, "doc", "ppo.py", ["depth-scratch", "--total-timesteps", "50000"])
    assert args.total_timesteps == 50000 and args.env.sensors.depth.fovy == 30.0 and args.recipe == "depth-scratch"
    assert args.overrides == ("--total-timesteps", "50000")
    with pytest.raises(SystemExit, match="unknown recipe 'depth-scrach'"):
        recipe_cli(ppo.Args, ppo.RECIPES, "doc", "ppo.py", ["depth-scrach"])
