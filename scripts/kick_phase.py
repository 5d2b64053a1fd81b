"""Which kicks a policy survives, by direction and by the gait phase the kick lands in.

``duck eval`` reports kick survival by magnitude and direction over random phases. This
prints one row per direction with one cell per control step of the gait period: the kick
lands on that step of the nominal clock (step 0: the left foot starts its swing; step 12-13:
the right foot does; a policy that changes the clock's rate shifts this), ``#`` survived,
``.`` fell. On the fixed gait clock a sideways kick can
only be caught by a step of the foot on the side it pushes towards, so a policy that
survives only near that foot's lift-off is limited by the clock, not by its balance.

    python scripts/kick_phase.py policies/walk.onnx --kick 0.6
"""

from __future__ import annotations

import argparse
from pathlib import Path

DIRECTIONS = {"front": (1.0, 0.0), "left": (0.0, 1.0), "back": (-1.0, 0.0), "right": (0.0, -1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", type=Path, help="an exported .onnx policy")
    parser.add_argument("--kick", type=float, default=0.6, help="kick speed, m/s (default 0.6)")
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args()

    import numpy as np

    from duck.contract import CONTRACT
    from duck.evaluation.episodes import run_episodes
    from duck.evaluation.suite import SuiteSettings, eval_config, hold_command, scheduled_kicks
    from duck.runtime.policy import load_policy
    from duck.sim.config import EnvConfig

    policy = load_policy(args.policy)
    settings = SuiteSettings()
    cfg = eval_config(EnvConfig(), settings.push_seconds, False, None)
    period = int(round(CONTRACT.gait_period_s / CONTRACT.control_dt_s))
    # The first whole gait period after the suite's kick time, one episode per step of it.
    first = -(-int(round(settings.push_at_seconds / CONTRACT.control_dt_s)) // period) * period
    kick_step = first + np.arange(period)
    print(f"kick {args.kick} m/s while walking at {settings.push_walk_mps} m/s; cell k: kick on step k of "
          f"{period} consecutive control steps, one nominal gait period (at the nominal clock rate the left foot "
          f"lifts at 0, the right at {period / 2:g}); # survived")
    print(" " * 7 + "".join(str(k % 10) for k in range(period)))
    for name, direction in DIRECTIONS.items():
        velocity = np.tile(args.kick * np.asarray(direction), (period, 1))
        trace = run_episodes(policy, cfg, period, settings.push_seconds, args.seed,
                             hold_command((settings.push_walk_mps, 0.0, 0.0)), scheduled_kicks(kick_step, velocity))
        cells = "".join("." if fell else "#" for fell in trace.fell)
        print(f"{name:<7}{cells}  {1.0 - trace.fell.mean():.2f}")


if __name__ == "__main__":
    main()
