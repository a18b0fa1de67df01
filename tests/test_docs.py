"""The documentation: the site builds with warnings as errors (broken internal links included), every record in
``benchmarks/results/`` is cited, and every tagged figure equals its record's value (``docs/check_figures.py``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _checker():
    spec = importlib.util.spec_from_file_location("check_figures", os.path.join(ROOT, "docs", "check_figures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_tagged_figure_matches_its_record_and_every_record_is_cited():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "check_figures.py")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.splitlines()[-1].split()[0]) >= 50, result.stdout  # "<n> tagged figures in ..."


def test_the_checker_catches_a_figure_that_drifted_from_its_record():
    check = _checker().check_text
    record = "depth_scratch_cpu-2core_2026-12-06.json"
    key = "runs.Depth%20PPO%2032x32%2C%20%2B%20camera%20aimed%20at%20%280%2E6%2C%200%2C%200%2E18%29%2C%202026-12-05"
    right = f"at 36.1<!-- fig {record} {key}.curve.14.wall_time_s /60 --> min"
    assert check(right) == ([], 1)
    wrong = f"at 34<!-- fig {record} {key}.curve.14.wall_time_s /60 --> min"  # the README's figure before 2026-12-07
    errors, _ = check(wrong)
    assert len(errors) == 1 and "the text says 34" in errors[0]
    assert check(f"**0.5** <!-- fig {record} no.such.key -->")[0]
    assert check(f"a tag after no number <!-- fig {record} merged -->")[0]


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert os.path.exists(tmp_path / "api" / "index.html")
    assert os.path.exists(tmp_path / "results" / "depth_scratch_cpu-2core_2026-12-06.png")
