"""Learning curves as PNGs, from the ``summary.json`` of ``algos/ppo.py`` and ``algos/dagger.py`` runs.

    python benchmarks/plot_curves.py ppo runs/state-teacher/summary.json --labels "palm_synergy" \
        --out benchmarks/results/teacher_cpu-2core.png
    python benchmarks/plot_curves.py ppo runs/a/summary.json runs/b/summary.json --labels A B --out compare.png

Each curve is the deterministic evaluation the run logged (success and lifted rates against
environment steps and against wall-clock time). ``--json`` also writes the record to commit beside the
PNG: the machine, each run's exact command (``--commands``), its settings, final figures and curve.

    python benchmarks/plot_curves.py ppo runs/state-teacher/summary.json runs/depth/summary.json \
        --labels teacher depth --commands "python algos/ppo.py ..." "python algos/ppo.py ..." \
        --out benchmarks/results/depth_ppo.png --json benchmarks/results/depth_ppo.json

A summary may also be a run of an earlier ``--json`` record, ``<record>.json#<its label>``, so a new run
is drawn beside a committed one (its command comes along):

    python benchmarks/plot_curves.py ppo "benchmarks/results/teacher_cpu-2core_2026-11-24.json#palm_synergy" \
        runs/depth/summary.json --labels teacher depth --out compare.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine  # noqa: E402


def plot_ppo(curves: dict[str, list], out: str, title: str = "") -> str:
    """Success and lifted rate against steps (left) and wall time (right), one line pair per run."""
    adr = any(p.get("difficulty", 1.0) < 1.0 for curve in curves.values() for p in curve)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4 + (0.5 if adr else 0.25) * len(curves)), sharey=True)
    for label, curve in curves.items():
        steps = [p["global_step"] / 1e6 for p in curve]
        wall = [p["wall_time_s"] / 60 for p in curve]
        for ax, x in zip(axes, (steps, wall)):
            line = ax.plot(x, [p["success_rate"] for p in curve], marker="o", label=f"{label}: success")[0]
            ax.plot(x, [p["lifted_rate"] for p in curve], linestyle="--", color=line.get_color(),
                    label=f"{label}: lifted")
            if any(p.get("difficulty", 1.0) < 1.0 for p in curve):  # an ADR run: its level, and success there
                ax.plot(x, [p["difficulty"] for p in curve], linestyle=(0, (1, 1)), color=line.get_color(), alpha=0.7,
                        label=f"{label}: ADR level (fraction of the full ranges)")
                ax.plot(x, [p.get("train_success_rate") for p in curve], linestyle="-.", color=line.get_color(),
                        alpha=0.6, label=f"{label}: training success at the current ranges (stochastic)")
                if any("success_rate_at_difficulty" in p for p in curve):
                    ax.plot(x, [p.get("success_rate_at_difficulty", p["success_rate"]) for p in curve],
                            linestyle=(0, (3, 1, 1, 1)), marker=".", color=line.get_color(), alpha=0.8,
                            label=f"{label}: success at the current ranges (deterministic)")
    axes[0].set_xlabel("environment steps (millions)")
    axes[1].set_xlabel("wall-clock time (minutes)")
    axes[0].set_ylabel("rate (ADR runs: at the full ranges)")
    for ax in axes:
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    # below the axes, two entries (success, lifted) per row: inside, long labels hid the curves
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.0225 * len(handles) + 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_students(curves: dict[str, list], stem: str) -> list[str]:
    """One PNG per student: its success and lifted rates beside its teacher's on the same worlds."""
    paths = []
    for name, curve in curves.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        steps = [p["global_step"] / 1e6 for p in curve]
        for who, style in (("student", "-"), ("teacher", ":")):
            ax.plot(steps, [p[f"{who}_success_rate"] for p in curve], style, marker="o", label=f"{who} success")
            ax.plot(steps, [p[f"{who}_lifted_rate"] for p in curve], style, label=f"{who} lifted", alpha=0.6)
        ax.set_xlabel("DAgger environment steps (millions)")
        ax.set_ylabel("deterministic rate, same episodes")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{name} student distilled from the state teacher")
        fig.tight_layout()
        path = f"{stem}_{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("ppo", "dagger"), help="which script wrote the summaries")
    parser.add_argument("summaries", nargs="+", help="summary.json files of the runs, or <record>.json#<label>: "
                                                     "a run of an earlier --json record")
    parser.add_argument("--labels", nargs="+", default=None, help="one label per run")
    parser.add_argument("--title", default="", help="figure title")
    parser.add_argument("--out", required=True, help="the PNG (ppo) or the file stem (dagger)")
    parser.add_argument("--json", default=None, help="also write the runs' record (machine, commands, settings, "
                                                     "final figures, curves) to this JSON file")
    parser.add_argument("--commands", nargs="+", default=None, help="the exact command of each run, for --json")
    args = parser.parse_args()
    labels = args.labels or [s.split("/")[-2] for s in args.summaries]
    if len(labels) != len(args.summaries) or (args.commands and len(args.commands) != len(args.summaries)):
        raise SystemExit(f"{len(args.summaries)} summaries need as many --labels and --commands; got "
                         f"{len(labels)} labels and {len(args.commands or [])} commands")
    summaries, curves, recorded = {}, {}, {}
    for label, path in zip(labels, args.summaries):
        path, _, run = path.partition("#")
        with open(path) as f:
            summaries[label] = json.load(f)
        if run:
            runs = summaries[label].get("runs", {})
            if run not in runs:
                raise SystemExit(f"{path} records no run {run!r}; it has {sorted(runs)}")
            summaries[label] = {k: v for k, v in runs[run].items() if k != "command"}
            recorded[label] = runs[run].get("command")
        curves[label] = summaries[label]["curve"]
    figures = plot_ppo(curves, args.out, args.title) if args.kind == "ppo" else plot_students(curves, args.out)
    print(figures)
    if args.json:
        commands = args.commands or [None] * len(labels)
        runs = {label: {"command": cmd or recorded.get(label), **summaries[label]}
                for label, cmd in zip(labels, commands)}
        emit({"machine": machine(), "figures": figures, "runs": runs}, args.json)


if __name__ == "__main__":
    main()
