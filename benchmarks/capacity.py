"""How many environments fit a node: data parallel (every GPU simulates and learns) against
disaggregated (G-1 GPUs simulate, one learns), from per-role memory measured here.

Per role and per environment, measured (not assumed):

* simulator: the Warp arrays of a batch of worlds at the image size (model, data, renderer), as the
  slope between two batch sizes, plus the bytes of one reply buffer; a fixed part per device.
* learner: PPO's rollout storage at the horizon (observations of every key the policy and the
  critic see, actions, log-probs, values, rewards, flags), allocated exactly as ``algos/ppo.py``
  does, and the step's received and returned observations; a fixed part: parameters, gradients,
  Adam's two moments, and the activations of one update minibatch of ``--minibatch-size`` samples
  (measured with saved-tensor hooks on the real agent, doubled for the gradients flowing back).
  At scale one keeps the minibatch fixed (``--num-minibatches = num_envs * horizon / size``).

mujoco_warp allocates the same arrays on CUDA as on the CPU, so figures measured on the CPU predict
a GPU's (a GPU adds its context: ``--context-gib``). Run with ``--sim-device cuda:0`` on a GPU to
measure there (peak allocator bytes replace the array sums).

    python benchmarks/capacity.py --gpus 4 --gpu-gib 80
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, load_script, machine  # noqa: E402

from dexgrasp_env.config import ENV_IDS, CameraConfig, make_env_config  # noqa: E402
from dexgrasp_env.actions import action_dim  # noqa: E402
from dexgrasp_env.sim import make_simulator  # noqa: E402
from dexgrasp_env.spaces import key_spaces  # noqa: E402

GIB = 2**30
#: The paper's measured maxima on 4 GPUs (environments per simulating GPU, total).
PAPER = {(160, 120): {"data_parallel": (1024, 4096), "disaggregated": (2800, 8400)},
         (320, 240): {"data_parallel": (256, 1024), "disaggregated": (700, 2100)}}




def simulator_role(env_id: str, width: int, height: int, device: str, sizes=(16, 64)) -> dict:
    # the GPU path: MuJoCo Warp, also when measured on the CPU
    cfg = make_env_config(env_id, camera=CameraConfig(width=width, height=height), extra_obs=("state",),
                          backend="warp")
    nbytes = []
    for n in sizes:
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        sim = make_simulator(cfg, n, device, cameras=cfg.cameras_needed())
        nbytes.append(sim.memory_bytes())
        del sim
    per_env = (nbytes[1] - nbytes[0]) / (sizes[1] - sizes[0])
    reply = sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in key_spaces(cfg).values()) + 64
    return {"bytes_per_env": per_env + reply, "fixed_bytes": nbytes[0] - per_env * sizes[0]}


def learner_role(ppo, env_id: str, width: int, height: int, num_steps: int, minibatch_size: int) -> dict:
    args = ppo.Args(env_id=env_id, env=make_env_config(env_id, camera=CameraConfig(width=width, height=height)))
    cfg = ppo.env_config(args)
    spaces = key_spaces(cfg)
    agent = ppo.make_agent(args, cfg, spaces, "cpu")
    # rollout storage, per environment, as ppo.py allocates it (uint8 images, float32 otherwise)
    obs_bytes = sum(int(np.prod(s.shape)) * (1 if s.dtype == np.uint8 else 4) for s in spaces.values())
    per_step = obs_bytes + action_dim(cfg) * 4 + 3 * 4 + 3  # actions; logprob, reward, value; three flags
    rollout = num_steps * per_step + num_steps * 2 * 4  # advantages, returns
    # activations one sample keeps for the backward pass of an update
    saved = {}

    def pack(t):  # a tensor saved by two operations is one tensor
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    batch = 8
    obs = {k: torch.zeros(batch, *s.shape, dtype=torch.uint8 if s.dtype == np.uint8 else torch.float32)
           for k, s in spaces.items()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, logp, ent, value, _ = agent.get_action_and_value(obs, torch.zeros(batch, action_dim(cfg)))
        (logp.sum() + ent.sum() + value.sum()).backward()
    act_per_sample = 2 * sum(saved.values()) / batch
    params = sum(p.numel() * p.element_size() for p in agent.parameters())
    transfer = 2 * obs_bytes  # the observations received this step and the ones handed to the policy
    return {"bytes_per_env": rollout + transfer, "rollout_bytes_per_env": rollout,
            "activation_bytes_per_sample": act_per_sample, "minibatch_size": minibatch_size,
            "fixed_bytes": 4 * params + act_per_sample * minibatch_size,
            "parameters": sum(p.numel() for p in agent.parameters())}


def capacity(sim: dict, learn: dict, gpus: int, gpu_gib: float, context_gib: float) -> dict:
    budget = (gpu_gib - context_gib) * GIB
    dp_per_gpu = int((budget - sim["fixed_bytes"] - learn["fixed_bytes"]) // (sim["bytes_per_env"]
                                                                               + learn["bytes_per_env"]))
    sim_per_gpu = int((budget - sim["fixed_bytes"]) // sim["bytes_per_env"])
    learner_max = int((budget - learn["fixed_bytes"]) // learn["bytes_per_env"])
    disagg_total = min(sim_per_gpu * (gpus - 1), learner_max)
    return {"data_parallel": {"per_gpu": dp_per_gpu, "total": dp_per_gpu * gpus},
            "disaggregated": {"per_sim_gpu": disagg_total // (gpus - 1), "total": disagg_total,
                              "limited_by": "learner" if learner_max < sim_per_gpu * (gpus - 1) else "simulators"},
            "ratio": round(disagg_total / max(1, dp_per_gpu * gpus), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="DexGrasp-Depth-v0", choices=list(ENV_IDS), help="environment")
    parser.add_argument("--resolutions", nargs="+", default=["160x120", "320x240"], help="image sizes WxH")
    parser.add_argument("--gpus", type=int, default=4, help="GPUs per node (G)")
    parser.add_argument("--gpu-gib", type=float, default=80.0, help="memory per GPU (M, GiB)")
    parser.add_argument("--context-gib", type=float, default=1.0,
                        help="per-GPU memory not available to either role (CUDA context, allocator slack)")
    parser.add_argument("--num-steps", type=int, default=16, help="PPO horizon")
    parser.add_argument("--minibatch-size", type=int, default=4096, help="PPO samples per update minibatch")
    parser.add_argument("--sim-device", default="cpu", help="where to measure the simulator role")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    ppo = load_script("ppo")
    rows = []
    for res in args.resolutions:
        w, h = (int(x) for x in res.split("x"))
        sim = simulator_role(args.env_id, w, h, args.sim_device)
        learn = learner_role(ppo, args.env_id, w, h, args.num_steps, args.minibatch_size)
        cap = capacity(sim, learn, args.gpus, args.gpu_gib, args.context_gib)
        rows.append({"resolution": res, "simulator_role": sim, "learner_role": learn, "capacity": cap,
                     "paper": PAPER.get((w, h))})
    print(f"\nmax environments on {args.gpus} GPUs x {args.gpu_gib:g} GiB ({args.env_id}, PPO horizon "
          f"{args.num_steps}, minibatch {args.minibatch_size})")
    print("| image | data parallel (G x sim+RL) | disaggregated (G-1 sim + 1 RL) | ratio | paper DP -> disagg |")
    print("|---|---|---|---|---|")
    for r in rows:
        c, p = r["capacity"], r["paper"]
        paper = f"{p['data_parallel'][1]} -> {p['disaggregated'][1]}" if p else "-"
        print(f"| {r['resolution']} | {c['data_parallel']['per_gpu']}/GPU = {c['data_parallel']['total']} | "
              f"{c['disaggregated']['per_sim_gpu']}/GPU = {c['disaggregated']['total']} "
              f"({c['disaggregated']['limited_by']}-bound) | {c['ratio']}x | {paper} |")
    print()
    emit({"machine": machine(args.sim_device), "gpus": args.gpus, "gpu_gib": args.gpu_gib,
          "context_gib": args.context_gib, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
