"""gymnasium registration (also exposed as a ``gymnasium.envs`` entry point)."""

from __future__ import annotations

ENV_ID = "OpenDuck/Walk-v0"


def register_envs() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="duck.sim.walk_env:WalkEnv")
