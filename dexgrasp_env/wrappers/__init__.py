"""Adapters to other libraries and recording helpers.

* :mod:`dexgrasp_env.wrappers.sb3`: the pool as a Stable-Baselines3 ``VecEnv`` (needs the
  ``sb3`` extra; importing this package does not import it).
* :mod:`dexgrasp_env.wrappers.video`: frames that show what a policy sees beside a person's view,
  and MP4 writing.
"""
