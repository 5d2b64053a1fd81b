"""gymnasium registration, done by ``import duck.sim`` (gymnasium 1.x has no plugin entry points)."""

from __future__ import annotations

ENV_ID = "OpenDuck/Walk-v0"


def register_envs() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="duck.sim.walk_env:WalkEnv")
