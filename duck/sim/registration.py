"""gymnasium registration, done by ``import duck.sim`` (gymnasium 1.x has no plugin entry points)."""

from __future__ import annotations

# v1: the contract's residual action scale went from 0.25 to 0.35 rad, so one action moves the
# joints further than in v0 (docs/training.md, exp18).
# v2: the action has an 11th entry, the gait clock's rate, and the clock is env state instead
# of a function of time (docs/training.md, exp22).
# v3: the reward's defaults changed: a sharper yaw-rate kernel (yaw_sigma 0.1 -> 0.02) and the
# capture-step cost on (-30); trained from scratch in exp28.
# v4: kicks come every 2-5 s instead of 5-10 (exp35), and a wide yaw-rate kernel joins the
# sharp one (reward.tracking_yaw_coarse, exp38).
# v5: training kicks span 0.3-1.2 m/s before the curriculum's scale instead of 0.1-1.0
# (exp39).
# v6: the model is the real robot (issue 19): the leg stands knee-backward at upstream's v1
# runtime start pose, the real ranges, the real sole pad and self-collision; the stepping
# reference folds the knee-backward leg; the orientation cost measures tilt from the home
# stance. Older versions are not kept: the contract is global.
# (dr.terrain, rough training floors, is an option that is off by default: flat floors step as
# before, so the version stays.)
ENV_ID = "OpenDuck/Walk-v6"


def register_envs() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="duck.sim.walk_env:WalkEnv")
