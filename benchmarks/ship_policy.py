"""Ship a trained actor inside the package: ``dexgrasp_env/policies/<name>.pt2`` and ``<name>.json``.

Takes the exported actor of an ``algos/ppo.py`` or ``algos/dagger.py`` checkpoint (a ``torch.export``
program: no optimiser, no critic, no auxiliary head), the task it was trained on (plain data) and how it
was made (the run's command line, steps, wall time, final evaluation), so that
``dexgrasp_env.load_pretrained(name)`` gives it back.

    python benchmarks/ship_policy.py runs/my-teacher/checkpoint.pt --name my-teacher
    python benchmarks/ship_policy.py runs/<run>/best.pt --name <name>   # the run's best evaluation
    python benchmarks/ship_policy.py runs/<dagger run>/checkpoint.pt --name my-student  # a DAgger student
    python benchmarks/ship_policy.py runs/procedural-teacher/best.pt --name my-teacher --object-set primitives
    python benchmarks/ship_policy.py depth-scratch --add-evaluations full camera-1cm-1deg   # a shipped one, again
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shlex
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model, git_commit, load_script  # noqa: E402

from dexgrasp_env import checkpoints  # noqa: E402
from dexgrasp_env.config import ENV_IDS, EnvConfig, RandomizationConfig  # noqa: E402
from dexgrasp_env.compatibility import check_task  # noqa: E402
from dexgrasp_env.evaluation import eval_config, on_object_set, run_episodes  # noqa: E402
from dexgrasp_env.models import export_policy, load_policy  # noqa: E402
from dexgrasp_env.pretrained import POLICY_DIR  # noqa: E402
from dexgrasp_env.spaces import key_spaces  # noqa: E402

MAX_BYTES = 5 * 10**6  # 5 MB: a pixel policy's encoder included
PRESETS = {
    "default": RandomizationConfig(), "full": RandomizationConfig.full(),
    "camera-1cm-1deg": dataclasses.replace(RandomizationConfig(), camera_position_noise=0.01,
                                           camera_rotation_noise_deg=1.0),
    "depth-5mm-dropout-2pct": dataclasses.replace(RandomizationConfig(), depth_noise_std=0.005, depth_dropout=0.02),
}
"""Randomizations a shipped policy can be evaluated under: EnvConfig's default, the paper's full ranges (with the
depth camera's model), and the default with one sensor perturbation (how far a pixel policy survives a real
sensor)."""


def compact_export(path: str, ckpt: dict) -> bytes:
    """The actor exported again from the checkpoint's weights, with a two-sample example input.

    Checkpoints written before ``export_policy`` cloned its example carried the whole rollout batch's
    storage inside the program (6.9 MB for a 64x64 depth actor, 2.6 MB of it weights).
    """
    ppo = load_script("ppo")
    env_id = next(k for k, v in ENV_IDS.items() if v == ckpt["env_config"]["obs_mode"])
    actor_state, _ = ppo.initial_actor(path, env_id)
    cfg = checkpoints.env_config(ckpt["env_config"])
    spaces = key_spaces(cfg)
    # the actor's architecture as trained: a masked depth input has a second channel
    trained = ppo.Args(env_id=env_id, depth_encoding=ckpt["args"].get("depth_encoding", "pixel"))
    actor = ppo.make_agent(trained, cfg, spaces, "cpu", actor_state).actor
    keys = tuple(ckpt["policy_keys"])
    example = {k: torch.as_tensor(spaces[k].sample()[None].repeat(2, 0)) for k in keys}
    return export_policy(actor, keys, example)


def evaluate_over_seeds(act, task: EnvConfig, seeds: int, episodes: int, label: str) -> dict:
    """``act`` on ``task`` (every shape in turn) over seeds ``0 .. seeds - 1`` of ``episodes`` episodes each: the
    mean rates, each seed's, and success per shape."""
    task = dataclasses.replace(task, object_assignment="cycle")
    per_seed = [run_episodes(act, task, episodes, seed) for seed in range(seeds)]
    out = {k: float(np.mean([r[k] for r in per_seed])) for k in ("success_rate", "lifted_rate", "mean_return")}
    out.update(episodes=episodes * seeds, seeds=list(range(seeds)),
               success_rate_per_seed=[r["success_rate"] for r in per_seed],
               lifted_rate_per_seed=[r["lifted_rate"] for r in per_seed],
               success_by_shape={n: float(np.mean([r["success_by_shape"][n] for r in per_seed]))
                                 for n in per_seed[0]["success_by_shape"]})
    print(f"{label}: {out}", flush=True)
    return out


def add_evaluations(name: str, presets: list[str], seeds: int, episodes: int, policy_dir: str,
                    object_sets: list[str] = ()) -> None:
    """Evaluate a shipped policy under more randomizations (:data:`PRESETS`) and add them to its JSON's
    ``evaluations`` (dated, with the CPU and the commit): how far each shipped policy survives a real sensor.
    With ``object_sets``, on each of those sets instead, under ``evaluations_by_object_set["<set>/<preset>"]``."""
    import datetime

    import dexgrasp_env

    policy, cfg = dexgrasp_env.load_pretrained(name)
    path = os.path.join(policy_dir, f"{name}.json")
    with open(path) as f:
        meta = json.load(f)
    command = ["python", "benchmarks/ship_policy.py", name, "--add-evaluations", *presets]
    if object_sets:
        command += ["--eval-object-sets", *object_sets]
    command += ["--eval-seeds", str(seeds), "--eval-episodes", str(episodes)]
    where = [(s, f"{s}/", "evaluations_by_object_set") for s in object_sets] or [(None, "", "evaluations")]
    for preset in presets:
        for object_set, prefix, field in where:
            task = dataclasses.replace(cfg, randomization=PRESETS[preset])
            if object_set is not None:
                task = on_object_set(task, object_set)
            result = evaluate_over_seeds(policy, task, seeds, episodes, f"{name}, {prefix}{preset}")
            meta.setdefault(field, {})[prefix + preset] = {
                **({"object_set": object_set} if object_set else {}), "randomization": preset, **result,
                "date": datetime.date.today().isoformat(), "cpu": cpu_model(), "git_commit": git_commit(),
                "command": shlex.join(command)}
            with open(path, "w") as f:  # after every evaluation: a long one keeps what it measured
                json.dump(meta, f, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint",
                        help="a checkpoint.pt (the last) or best.pt (the best evaluation) of algos/ppo.py; with "
                             "--add-evaluations, the name of a shipped policy")
    parser.add_argument("--name", default=None, help="the shipped policy's name")
    parser.add_argument("--add-evaluations", nargs="+", default=None, choices=list(PRESETS),
                        help="evaluate the shipped policy named by `checkpoint` under these randomizations and add "
                             "them to its JSON's evaluations (nothing is re-exported)")
    parser.add_argument("--command", default=None, help="the training command to record")
    parser.add_argument("--eval-seeds", type=int, default=8,
                        help="record the mean success and lifted rates over this many seeds of --eval-episodes each "
                             "(the training run's own evaluation is one seed)")
    parser.add_argument("--eval-randomization", nargs="+", default=["shipped"], choices=["shipped", *PRESETS],
                        help="randomization of the recorded evaluations: the shipped config's (its curriculum off, so "
                             "at its full ranges), EnvConfig's default, RandomizationConfig.full(), or the default with "
                             "one sensor perturbation (PRESETS); the first is the policy's `evaluation`, all are "
                             "under `evaluations`")
    parser.add_argument("--eval-episodes", type=int, default=128, help="episodes of each evaluation seed")
    parser.add_argument("--policy-dir", default=POLICY_DIR, help="where the two files go (the package's policies)")
    parser.add_argument("--object-set", default=None,
                        help="ship the policy on this object set instead of its training set ('primitives', 'ycb', "
                             "...; a policy that reads surface points runs on any); its figures are measured there")
    parser.add_argument("--eval-object-sets", nargs="*", default=[],
                        help="also evaluate (at the shipped randomization; with --add-evaluations, under those "
                             "presets instead) on these object sets: 'procedural' (the training seed's), "
                             "'procedural-heldout' (the same generator, seed + 1000: objects the policy never saw), "
                             "'ycb', 'primitives' or a folder; recorded per set and per object")
    args = parser.parse_args()
    if args.add_evaluations:
        add_evaluations(args.checkpoint, args.add_evaluations, args.eval_seeds, args.eval_episodes, args.policy_dir,
                        args.eval_object_sets)
        return
    if args.name is None:
        parser.error("--name is required to ship a checkpoint")
    ckpt = checkpoints.load(args.checkpoint)
    trained = checkpoints.env_config(ckpt["env_config"])
    if ckpt.get("kind") == "dagger":  # exported compactly already; its task carries the teacher's keys as extras
        program, keys = ckpt["policy_export"], tuple(ckpt["student_keys"])
        cfg = dataclasses.replace(trained, extra_obs=())
    else:
        program, keys = compact_export(args.checkpoint, ckpt), tuple(ckpt["policy_keys"])
        # shipped as ppo.py evaluates (no training-only extras, the curriculum off: a fresh environment runs
        # at the full ranges), with the training run's object assignment
        cfg = dataclasses.replace(eval_config(trained), object_assignment=trained.object_assignment)
    if args.object_set is not None:
        cfg = on_object_set(cfg, args.object_set)
    check_task(trained, cfg, keys, who=args.checkpoint)  # shipped as it was trained, up to the object set
    if len(program) > MAX_BYTES:
        raise ValueError(f"the exported actor is {len(program)} bytes; a shipped policy may have {MAX_BYTES}")
    summary_path = os.path.join(os.path.dirname(args.checkpoint), "summary.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    policy = load_policy(program)
    presets = {"shipped": cfg.randomization, **PRESETS}

    def evaluate(task: EnvConfig, label: str) -> dict:
        return evaluate_over_seeds(lambda o: policy({k: o[k] for k in keys})[0], task, args.eval_seeds,
                                   args.eval_episodes, label)

    evaluations = {p: {"randomization": p, **evaluate(dataclasses.replace(cfg, randomization=presets[p]), p)}
                   for p in args.eval_randomization}
    by_set = {s: {"object_set": s, **evaluate(on_object_set(cfg, s), s)} for s in args.eval_object_sets}
    evaluation = evaluations[args.eval_randomization[0]]
    train_args = ckpt["args"]
    script = "algos/dagger.py" if ckpt.get("kind") == "dagger" else "algos/ppo.py"
    meta = {"name": args.name, "policy_keys": list(keys), "env_config": checkpoints.to_plain(cfg),
            "global_step": ckpt["global_step"], "wall_time_s": round(ckpt["wall_time"], 1),
            "command": args.command,
            "recipe": {"script": script, "name": train_args.get("recipe"),
                       "overrides": list(train_args.get("overrides") or [])},
            "sha256": hashlib.sha256(program).hexdigest(), "git_commit": git_commit(), "cpu": cpu_model(),
            "evaluation": evaluation, "evaluations": evaluations,
            **({"evaluations_by_object_set": by_set} if by_set else {}),
            "kind": ckpt.get("kind", "ppo"),
            "training_run_eval": next((p for p in ckpt.get("curve", []) if p["global_step"] == ckpt["global_step"]),
                                      summary.get("final", {}).get("eval")),
            "train_args": train_args}
    os.makedirs(args.policy_dir, exist_ok=True)
    with open(os.path.join(args.policy_dir, f"{args.name}.pt2"), "wb") as f:
        f.write(program)
    with open(os.path.join(args.policy_dir, f"{args.name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{args.name}: {len(program) / 2**20:.2f} MiB actor, {ckpt['global_step']} steps, {evaluation} "
          f"-> {args.policy_dir}")


if __name__ == "__main__":
    main()
