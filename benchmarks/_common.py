"""Shared helpers of the benchmark scripts: machine description and JSON output."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import resource
import shlex
import sys
import time

import torch

from dexgrasp_env.devices import cpu_has_bf16


def cpu_model() -> str:
    """This machine's CPU model as ``/proc/cpuinfo`` names it (else what ``platform`` says): the ``cpu`` of
    :func:`machine` and the key of a shipped policy's ``evaluations_by_cpu``."""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            return names[0]
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The repository's commit (with ``+changes`` when the work tree differs from it), or None outside git."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+changes" if dirty else "")) or None


def machine(device: str = "cpu") -> dict:
    """A description of this machine and the software versions."""
    import mujoco
    import mujoco_warp
    import warp

    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # AVX2 / AVX512: same model name, other speeds
        "cpu_bf16": cpu_has_bf16(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "warp": warp.__version__,
        "mujoco": mujoco.__version__,
        "mujoco_warp": mujoco_warp.__version__,
        "date": datetime.date.today().isoformat(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(results: dict, out: str | None) -> None:
    """Print ``results`` as JSON (with the command line), and write it to ``out`` if given."""
    results = {"command": shlex.join([os.path.basename(sys.executable)] + sys.argv), **results}  # quoted: reruns as is
    text = json.dumps(results, indent=2)
    print(text)
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn, timers: dict, key: str):
    """``fn``, adding the wall time of every call to ``timers[key]`` (zero the dict's values in place to restart)."""
    def inner(*args):
        start = time.perf_counter()
        out = fn(*args)
        timers[key] += time.perf_counter() - start
        return out
    return inner


def load_script(name: str):
    """A single-file script of ``algos/`` (``ppo``, ``dagger``) as a module (loaded once)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "algos", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def distil_or_reuse(run_dir: str, reuse: bool, distil) -> dict:
    """A DAgger run's final stats with its curve: ``distil()`` (``algos/dagger.py``'s main), or with ``reuse``
    the ``summary.json`` a finished run left in ``run_dir``."""
    summary = os.path.join(run_dir, "summary.json")
    if reuse and os.path.exists(summary):
        with open(summary) as f:
            done = json.load(f)
        return dict(done["final"], curve=done["curve"])
    return distil()
