"""A training run's folder, shared by ``algos/ppo.py`` and ``algos/dagger.py``: tensorboard scalars and the
hyperparameters, Weights & Biases when asked, and ``summary.json`` (the arguments, the final statistics and the
evaluation curve) at the end. Checkpoints go into the same folder (:mod:`dexgrasp_env.checkpoints`)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from dexgrasp_env import checkpoints


class RunLog:
    """The folder ``run_dir`` (by default ``runs/<env_id>__<exp_name>__<seed>__<time>``) of a run.

    Args:
        args: The script's ``Args`` (a dataclass with ``env_id``, ``exp_name``, ``seed``, ``run_dir``, ``track``
            and ``wandb_project_name``); recorded as plain data.
        enabled: ``False`` on data-parallel ranks other than 0: no folder, every call a no-op.
    """

    def __init__(self, args: Any, enabled: bool = True) -> None:
        self.name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
        self.dir = args.run_dir or os.path.join("runs", self.name)
        self.args = checkpoints.to_plain(args)
        self.writer = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter  # the scripts' extra: tensorboard

        os.makedirs(self.dir, exist_ok=True)
        if args.track:
            import wandb

            wandb.init(project=args.wandb_project_name, config=self.args, name=self.name, sync_tensorboard=True,
                       save_code=True)
        self.writer = SummaryWriter(self.dir)
        self.writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
            f"|{k}|{v}|" for k, v in self.args.items()))

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Tensorboard scalars at ``step`` (environment steps)."""
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def close(self, final: dict, curve: list) -> None:
        """Flush the scalars and write ``summary.json``."""
        if self.writer is None:
            return
        self.writer.close()
        with open(os.path.join(self.dir, "summary.json"), "w") as f:
            json.dump({"args": self.args, "final": final, "curve": curve}, f, indent=1)
