"""gymnasium registration, done by ``import duck.sim`` (gymnasium 1.x has no plugin entry points)."""

from __future__ import annotations

# v1: the contract's residual action scale went from 0.25 to 0.35 rad, so one action moves the
# joints further than in v0 (docs/training.md, exp18). v0 is not kept: the contract is global.
ENV_ID = "OpenDuck/Walk-v1"


def register_envs() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="duck.sim.walk_env:WalkEnv")
