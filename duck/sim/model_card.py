"""Generated parts of the model card (mjcf/README.md): totals from the compiled model and the
joint table from the contract. ``python -m duck.sim.model_card --write`` refreshes them;
tests/test_mjcf.py fails if the card is stale."""

from __future__ import annotations

import argparse
import re
import sys

import mujoco

from duck.contract import CONTRACT
from duck.paths import MJCF_DIR
from duck.sim.model import load_model

CARD = MJCF_DIR / "README.md"
SECTIONS = ("totals", "joints")


def measured_totals(model: mujoco.MjModel | None = None) -> dict[str, float]:
    model = model or load_model()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)  # qpos0: legs straight, standing on the sole plane below
    sole = min(data.geom_xpos[model.geom(n).id][2] - model.geom_size[model.geom(n).id][2]
               for n in ("right_sole", "left_sole"))
    head_top = data.site_xpos[model.site("head_top").id][2]
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    for _ in range(int(2.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    return {
        "mass_kg": float(model.body_subtreemass[model.body("trunk").id]),
        "standing_height_straight_m": float(head_top - sole),
        "home_trunk_height_m": float(data.qpos[2]),
        "mujoco_version": mujoco.__version__,
    }


def totals_markdown(t: dict) -> str:
    return "\n".join([
        "| quantity | value |",
        "|---|---|",
        f"| total mass | {t['mass_kg']:.3f} kg |",
        f"| standing height, legs straight (sole to head top) | {t['standing_height_straight_m']:.3f} m |",
        f"| trunk height at the home pose, settled | {t['home_trunk_height_m']:.4f} m |",
        f"| MuJoCo version | {t['mujoco_version']} |",
    ])


def joints_markdown() -> str:
    lines = ["| # | joint | servo ID | model | lower [rad] | upper [rad] | home [rad] |",
             "|---|---|---|---|---|---|---|"]
    for i, j in enumerate(CONTRACT.joints):
        lines.append(f"| {i} | {j.name} | {j.servo_id} | {j.servo_model} | {j.lower_rad:+.3f} | "
                     f"{j.upper_rad:+.3f} | {j.home_rad:+.3f} |")
    return "\n".join(lines)


def generated() -> dict[str, str]:
    return {"totals": totals_markdown(measured_totals()), "joints": joints_markdown()}


def render(card: str, sections: dict[str, str]) -> str:
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(\n<!-- {name}:end -->)", re.S)
        if not pattern.search(card):
            raise ValueError(f"model card lacks the <!-- {name}:begin/end --> markers")
        card = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(2), card)
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the generated sections in place")
    args = parser.parse_args(argv)
    card = CARD.read_text()
    fresh = render(card, generated())
    if args.write:
        CARD.write_text(fresh)
        print(f"updated {CARD}")
        return 0
    print(fresh)
    return 0 if fresh == card else 1


if __name__ == "__main__":
    sys.exit(main())
