"""The simulator pool behind Gymnasium's vector-env API (see :class:`DisaggregatedVectorEnv`).

It needs Gymnasium 1.x (autoreset modes, ``AutoresetMode``); the single environment
(``gymnasium.make``) also works with Gymnasium 0.29.
"""

import gymnasium as _gym

if int(_gym.__version__.split(".")[0]) < 1:
    raise ImportError(
        f"dexgrasp_env's vector environment (gymnasium.make_vec, DisaggregatedVectorEnv) needs gymnasium>=1.1; "
        f"this is gymnasium {_gym.__version__}. The single environment (gymnasium.make) works with 0.29: "
        f"`pip install 'gymnasium>=1.1'` for the vector env.")

from dexgrasp_env.errors import WorkerError  # noqa: E402
from dexgrasp_env.vector.pool import DisaggregatedVectorEnv, make_vector_env, split_envs  # noqa: E402
from dexgrasp_env.vector.worker import serve_worker  # noqa: E402

__all__ = ["DisaggregatedVectorEnv", "WorkerError", "make_vector_env", "serve_worker", "split_envs"]
