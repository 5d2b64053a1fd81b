"""The walk bar (issue: "A policy that walks") and walk bar 2 (issue 21) as data, and the markdown report."""

from __future__ import annotations

from pathlib import Path

from duck.evaluation.transfer import row_figures


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
    for name in ("fine_timestep", "randomized_dynamics") if "sim2sim" in m else ():
        v = m["sim2sim"][name]["survival_rate"]
        rows.append((f"sim2sim {name} survival", v, ">= 0.9", v >= 0.9))
    c = m["gait"]["forward"]["swing_clearance_m"]
    rows.append(("swing clearance, forward [m]", c, ">= 0.015", c >= 0.015))
    d = m["stand"]["base_drift_m"]
    rows.append(("stand still: base drift in 10 s [m]", d, "<= 0.1", d <= 0.1 and m["stand"]["falls"] == 0))
    return rows


def walk_bar_2(m: dict) -> list[tuple[str, float, str, bool]]:
    """The items issue 21 adds, for the sections the metrics hold: head motion, the 0.25 m/s
    command, and one item per transfer condition: its row meets all four of its bars (fixed and
    tracking survival >= 0.9, vx >= 0.09 m/s, 0.6 m/s kicks >= 0.7). The value shown is the row's
    worst figure divided by its bar, named; the report's table has them all."""
    rows = []
    if "head_tracking" in m:
        v = m["head_tracking"]["survival_rate"]
        rows.append(("tracking survival with head motion", v, ">= 0.95", v >= 0.95))
    if "fast" in m:
        f = m["fast"]["forward_0.25"]
        rows.append(("forward 0.25: mean vx over last 8 s [m/s]", f["achieved_vx_mps"], ">= 0.2, no fall",
                     f["achieved_vx_mps"] >= 0.2 and not f["fell"]))
    for name, row in m.get("transfer", {}).items():
        figures = row_figures(row)
        worst = min(figures, key=figures.get)
        rows.append((f"transfer {name}: worst figure / its bar ({worst})", figures[worst], ">= 1", row["meets_bar"]))
    return rows


def whole_bar(m: dict) -> list[tuple[str, float, str, bool]]:
    """Every item: the walk bar, then walk bar 2's additions."""
    return walk_bar(m) + walk_bar_2(m)


def transfer_table(m: dict) -> list[str]:
    """The transfer section as markdown table lines (empty when the section did not run)."""
    if not m.get("transfer"):
        return []
    lines = ["| condition | setting | fixed survival | tracking survival | vx at 0.15 [m/s] | "
             "kick 0.6 survival | kicks 0.2/0.4/0.6/0.8/1.0 | ok |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in m["transfer"].items():
        kicks = r["push_survival_rate_by_kick_mps"]
        lines.append(f"| {name} | {r['setting']} | {r['fixed_survival_rate']:.2f} | "
                     f"{r['tracking_survival_rate']:.2f} | {r['forward_achieved_vx_mps']:.3f} | {kicks['0.6']:.2f} | "
                     f"{'/'.join(f'{v:.2f}' for v in kicks.values())} | {'yes' if r['meets_bar'] else 'no'} |")
    return lines


def markdown(m: dict, plots: list[Path] | None = None, rel_to: Path | None = None) -> str:
    rows = walk_bar(m)
    passed = sum(r[3] for r in rows)
    extra = walk_bar_2(m)
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
    if extra:
        lines += ["", f"## Walk bar 2 additions: {sum(r[3] for r in extra)}/{len(extra)} criteria met", "",
                  "| criterion | measured | bar | ok |", "|---|---|---|---|"]
        lines += [f"| {name} | {value:.3f} | {bar} | {'yes' if ok else 'no'} |" for name, value, bar, ok in extra]
    if m.get("transfer"):
        lines += ["", "## Transfer: conditions outside the training randomization", "",
                  "Each on nominal dynamics with only that condition changed; fixed commands, tracking "
                  "and kicks as in the sim-to-sim section. A row needs survival >= 0.9, vx >= 0.09 m/s at "
                  "the 0.15 m/s command and 0.6 m/s kick survival >= 0.7.", ""]
        lines += transfer_table(m)
    if "fast" in m:
        lines += ["", "## Faster (10 s, nominal dynamics)", "", "| command | vx | distance [m] | fell |",
                  "|---|---|---|---|"]
        for name, f in m["fast"].items():
            lines.append(f"| {name} | {f['achieved_vx_mps']:.3f} | {f['forward_distance_m']:.2f} | {f['fell']} |")
    if "head_tracking" in m:
        h = m["head_tracking"]
        lines += ["", f"## Tracking with head motion ({h['episodes']} episodes x {h['seconds']:g} s, head "
                  f"commands over {h['head_command_range_rad']} rad every {h['head_resample_seconds']:g} s)", "",
                  f"Survival {h['survival_rate']:.2f}; stride-averaged RMSE {h['stride_lin_vel_rmse_mps']:.3f} m/s, "
                  f"{h['stride_yaw_rate_rmse_rad_s']:.3f} rad/s."]
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
