"""Simulation side: MuJoCo model access, the walking env, the batched VecEnv.

Importing this package registers ``OpenDuck/Walk-v6`` with gymnasium. Only the
``duck sim``/``train``/``eval``/``bench`` commands import it; the robot runtime never does.
"""

from duck.sim.registration import register_envs

register_envs()
