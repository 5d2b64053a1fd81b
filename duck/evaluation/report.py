"""The walk bar (issue: "A policy that walks") as data, and the markdown report."""

from __future__ import annotations

from pathlib import Path


def walk_bar(m: dict) -> list[tuple[str, float, str, bool]]:
    """(criterion, measured value, threshold text, passed) for every walk-bar item."""
    rows = []
    fwd = m["fixed"]["forward"]
    rows.append(("forward 0.15: mean vx over last 8 s [m/s]", fwd["achieved_vx_mps"], "0.11-0.19",
                 0.11 <= fwd["achieved_vx_mps"] <= 0.19))
    rows.append(("forward 0.15: abs lateral drift [m]", abs(fwd["lateral_drift_m"]), "<= 0.15",
                 abs(fwd["lateral_drift_m"]) <= 0.15))
    rows.append(("forward 0.15: no fall", float(fwd["fell"]), "0", not fwd["fell"]))
    for name in ("backward", "left", "right", "turn_left", "turn_right"):
        ratio = m["fixed"][name]["achieved_over_commanded"]
        rows.append((f"{name}: achieved / commanded", ratio, "0.65-1.35",
                     0.65 <= ratio <= 1.35 and not m["fixed"][name]["fell"]))
    t = m["tracking"]
    rows.append(("tracking survival", t["survival_rate"], ">= 0.95", t["survival_rate"] >= 0.95))
    # Velocity over a stride (one gait period), which is what a command asks for; the
    # instantaneous RMSE, which adds the within-stride sway, is in the report next to it.
    lin, yaw = t["stride_lin_vel_rmse_mps"], t["stride_yaw_rate_rmse_rad_s"]
    rows.append(("tracking lin vel RMSE, stride-averaged [m/s]", lin, "<= 0.05", lin <= 0.05))
    rows.append(("tracking yaw rate RMSE, stride-averaged [rad/s]", yaw, "<= 0.3", yaw <= 0.3))
    p = m["push"]["survival_rate_by_kick_mps"]
    rows.append(("push survival at 0.6 m/s", p["0.6"], ">= 0.9", p["0.6"] >= 0.9))
    rows.append(("push survival at 0.8 m/s", p["0.8"], ">= 0.7", p["0.8"] >= 0.7))
    for name in ("fine_timestep", "randomized_dynamics"):
        v = m["sim2sim"][name]["survival_rate"]
        rows.append((f"sim2sim {name} survival", v, ">= 0.9", v >= 0.9))
    c = m["gait"]["forward"]["swing_clearance_m"]
    rows.append(("swing clearance, forward [m]", c, ">= 0.015", c >= 0.015))
    d = m["stand"]["base_drift_m"]
    rows.append(("stand still: base drift in 10 s [m]", d, "<= 0.1", d <= 0.1 and m["stand"]["falls"] == 0))
    return rows


def markdown(m: dict, plots: list[Path] | None = None, rel_to: Path | None = None) -> str:
    rows = walk_bar(m)
    passed = sum(r[3] for r in rows)
    lines = [
        f"# Evaluation of `{Path(m['policy']['path']).name}`",
        "",
        f"Policy steps: {m['policy']['steps']:,}; contract {m['policy']['contract']}"
        + ("; averaged with its mirror image." if m["policy"].get("mirror_averaged") else "."),
        "",
        f"## Walk bar: {passed}/{len(rows)} criteria met",
        "",
        "| criterion | measured | bar | ok |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {value:.3f} | {bar} | {'yes' if ok else 'no'} |" for name, value, bar, ok in rows]
    lines += ["", "## Fixed commands (10 s, nominal dynamics)", "",
              "| command | vx | vy | yaw rate | achieved/cmd | lateral drift [m] | fell |",
              "|---|---|---|---|---|---|---|"]
    for name, f in m["fixed"].items():
        lines.append(f"| {name} {f['command']} | {f['achieved_vx_mps']:.3f} | {f['achieved_vy_mps']:.3f} | "
                     f"{f['achieved_yaw_rate_rad_s']:.3f} | {f['achieved_over_commanded']:.2f} | "
                     f"{f['lateral_drift_m']:.3f} | {f['fell']} |")
    p = m["push"]
    sectors = list(p.get("survival_rate_by_direction", {}))
    lines += ["", "## Push recovery", "",
              "| kick [m/s] | impulse [N s] | survival |" + "".join(f" {d} |" for d in sectors),
              "|---|---|---|" + "---|" * len(sectors)]
    for k, v in p["survival_rate_by_kick_mps"].items():
        cells = "".join(" - |" if p["survival_rate_by_direction"][d][k] is None
                        else f" {p['survival_rate_by_direction'][d][k]:.2f} |" for d in sectors)
        lines.append(f"| {k} | {p['impulse_ns_by_kick_mps'][k]:.3f} | {v:.2f} |{cells}")
    if sectors:
        lines += ["", "Direction columns: the kick's direction in the world frame, in 90° sectors; the robot "
                  "starts facing +x (front)."]
    t = m["tracking"]
    lines += ["", f"## Random-command tracking ({t['episodes']} episodes x {t['seconds']:g} s)", "",
              "| | planar velocity RMSE [m/s] | yaw-rate RMSE [rad/s] |", "|---|---|---|",
              f"| instantaneous | {t['lin_vel_rmse_mps']:.3f} | {t['yaw_rate_rmse_rad_s']:.3f} |",
              f"| stride-averaged ({t['stride_window_s']:g} s) | {t['stride_lin_vel_rmse_mps']:.3f} | "
              f"{t['stride_yaw_rate_rmse_rad_s']:.3f} |",
              "", f"Survival {t['survival_rate']:.2f}; the first {t['rmse_excludes_seconds_after_command_change']:g} s "
              "after each command change is excluded."]
    g = m["gait"]["forward"]
    cot = g["cost_of_transport"]  # None when the robot did not move
    lines += ["", "## Gait (forward 0.15 m/s)", "",
              f"- swing clearance {g['swing_clearance_m'] * 100:.1f} cm over {g['swing_count']} swings",
              f"- stance-foot slip {g['stance_foot_slip_mps']:.3f} m/s",
              f"- mechanical power {g['mechanical_power_w']:.2f} W, cost of transport "
              + (f"{cot:.2f}" if cot is not None else "n/a (no speed)")]
    if plots:
        lines += ["", "## Plots", ""]
        for path in plots:
            rel = path.relative_to(rel_to) if rel_to else path
            lines.append(f"![{path.stem}]({rel.as_posix()})")
    return "\n".join(lines) + "\n"
