"""dexgrasp_env.evaluation.eval_config: the one definition of the evaluation worlds both scripts use."""

import dataclasses

from dexgrasp_env.config import CurriculumConfig, EnvConfig, RandomizationConfig
from dexgrasp_env.evaluation import eval_config
from dexgrasp_env.randomization import Curriculum


def _adr_task() -> EnvConfig:
    cur = CurriculumConfig(enabled=True, initial_difficulty=0.1, schedule_steps=1000)
    return EnvConfig(obs_mode="depth", extra_obs=("state",),
                     randomization=dataclasses.replace(RandomizationConfig.full(), curriculum=cur))


def test_evaluation_runs_at_the_full_ranges_every_shape_in_turn():
    """A student of an --adr teacher, or an --adr run, is evaluated at the full ranges, not at the curriculum's
    first difficulty (what dagger.py's own eval_config did before 2026-12-07)."""
    cfg = eval_config(_adr_task())
    assert Curriculum(cfg.randomization.curriculum).difficulty == 1.0
    assert cfg.object_assignment == "cycle" and cfg.extra_obs == ()
    assert eval_config(_adr_task(), keep_extra=True).extra_obs == ("state",)  # a DAgger teacher's keys stay


def test_evaluation_held_at_the_curriculums_current_difficulty():
    held = Curriculum(eval_config(_adr_task(), difficulty=0.4).randomization.curriculum)
    assert held.difficulty == 0.4
    assert held.update(100, 100, steps=10_000) == 0.4  # held: neither successes nor steps widen it
