"""dexgrasp_env: dexterous grasping from pixels on MuJoCo Warp, with a disaggregated simulator pool.

Importing this package registers four Gymnasium environments and starts nothing:

* ``DexGrasp-State-v0``: privileged state vector (the teacher's view).
* ``DexGrasp-Depth-v0``: one depth image and proprioception.
* ``DexGrasp-StereoRGB-v0``: two RGB images (6 cm stereo baseline) and proprioception.
* ``DexGrasp-WristDepth-v0``: the depth camera on the wrist and proprioception.

``gymnasium.make(id)`` gives one environment with numpy observations;
``gymnasium.make_vec(id, num_envs=N, sim_devices=[...], learner_device=...)`` gives a
:class:`dexgrasp_env.vector.DisaggregatedVectorEnv` with torch observations on the learner.
"""

from gymnasium.envs.registration import register, registry

from dexgrasp_env.config import ENV_IDS
from dexgrasp_env.errors import WorkerError

__version__ = "0.1.0"

for _env_id, _obs_mode in ENV_IDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="dexgrasp_env.env:DexGraspEnv",
            vector_entry_point="dexgrasp_env.vector:make_vector_env",
            kwargs={"obs_mode": _obs_mode},
        )


def load_pretrained(name: str, device: str = "cpu"):
    """A policy shipped with the package and the ``EnvConfig`` it was trained with.

    ``policy, config = dexgrasp_env.load_pretrained("state-teacher")``: ``policy(obs) -> actions`` on
    batched torch observations (see :mod:`dexgrasp_env.pretrained`).
    """
    from dexgrasp_env.pretrained import load_pretrained as _load

    return _load(name, device)


def load_object_set(config):
    """The objects an ``EnvConfig`` puts on the table (its ``object_set``, narrowed to ``shapes``): names, meshes
    or primitives, surface points, mass properties (see :mod:`dexgrasp_env.robot.object_sets`).

    ``dexgrasp_env.load_object_set(make_env_config(object_set="ycb")).names`` lists the YCB subset.
    """
    from dexgrasp_env.robot.object_sets import load_object_set as _load

    return _load(config)


__all__ = ["ENV_IDS", "WorkerError", "__version__", "load_object_set", "load_pretrained"]
