"""The simulator pool behind Gymnasium's vector-env API (see :class:`DisaggregatedVectorEnv`)."""

from dexgrasp_env.errors import WorkerError
from dexgrasp_env.vector.pool import DisaggregatedVectorEnv, make_vector_env, split_envs
from dexgrasp_env.vector.worker import serve_worker

__all__ = ["DisaggregatedVectorEnv", "WorkerError", "make_vector_env", "serve_worker", "split_envs"]
