"""`duck bom`: the shipped BOM passes its checks; broken copies fail with row-numbered errors."""

from __future__ import annotations

import csv
import json
import re

import pytest

from duck import bom
from duck.cli import main
from duck.contract import CONTRACT
from duck.paths import BOM_DIR


def _rows() -> list[dict]:
    with bom.BOM_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(tmp_path, rows: list[dict]):
    path = tmp_path / "bom.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=bom.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_shipped_bom_passes_check(capsys):
    pytest.importorskip("mujoco")  # the mass check needs the model
    assert main(["bom", "--check"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "MJCF" in out


def test_total_cost_in_range_and_json_keys(capsys):
    assert main(["bom", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"total_usd", "total_mass_g", "rows"} <= set(data)
    assert 800 <= data["total_usd"] <= 1500
    assert len(data["rows"]) == len(_rows())
    assert all(r["url"] and r["date_checked"] for r in data["rows"])


def test_table_prints_totals(capsys):
    assert main(["bom"]) == 0
    out = capsys.readouterr().out
    assert "cost by category" in out and "total: USD" in out and "mass on the robot" in out


def _check_fails(tmp_path, rows, capsys) -> str:
    path = _write(tmp_path, rows)
    assert main(["bom", "--check", "--csv", str(path)]) == 1
    return capsys.readouterr().err


def test_wrong_servo_count(tmp_path, capsys):
    rows = _rows()
    dropped = next(i for i, r in enumerate(rows) if r["joint"] == "left_knee")
    del rows[dropped]
    err = _check_fails(tmp_path, rows, capsys)
    assert re.search(r"rows \d+-\d+: 12 servo rows, the contract has 13 joints; missing left_knee", err), err


def test_missing_price(tmp_path, capsys):
    rows = _rows()
    rows[3]["unit_price_usd"] = ""
    err = _check_fails(tmp_path, rows, capsys)
    assert "row 5: missing unit_price_usd" in err, err  # list index 3 = spreadsheet row 5


def test_bad_number(tmp_path, capsys):
    rows = _rows()
    rows[14]["mass_g"] = "12 g"
    err = _check_fails(tmp_path, rows, capsys)
    assert "row 16: mass_g '12 g' is not a number" in err, err


def test_missing_source_date_and_wrong_model(tmp_path, capsys):
    rows = _rows()
    rows[0]["url"] = ""
    rows[1]["date_checked"] = "29/11/2026"
    rows[2]["part"] = "Dynamixel XL330-M288-T"  # a leg joint needs an XC330
    rows[4]["joint"] = "tail_wag"
    err = _check_fails(tmp_path, rows, capsys)
    assert "row 2: missing source" in err
    assert "row 3: date_checked '29/11/2026' is not an ISO date" in err
    assert "row 4: joint 'right_hip_pitch' needs a XC330-M288-T" in err
    assert "row 6: unknown joint 'tail_wag'" in err


def test_mass_outside_tolerance(tmp_path, capsys):
    pytest.importorskip("mujoco")
    rows = _rows()
    filament = next(r for r in rows if r["part"].startswith("PLA filament"))
    filament["mass_g"] = "1"  # a kg-vs-g slip: the printed parts vanish from the mass
    err = _check_fails(tmp_path, rows, capsys)
    assert "outside the tolerance" in err, err


def test_plain_listing_of_broken_csv_is_one_line_user_error(tmp_path, capsys):
    rows = _rows()
    rows[0]["qty"] = "two"
    path = _write(tmp_path, rows)
    assert main(["bom", "--csv", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "row 2: qty 'two' is not a number" in err


def test_missing_file_is_user_error(tmp_path, capsys):
    assert main(["bom", "--csv", str(tmp_path / "nope.csv")]) == 2
    assert "cannot read BOM" in capsys.readouterr().err


def test_readme_id_map_matches_contract():
    text = (BOM_DIR / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- id-map:start -->\n(.*?)\n<!-- id-map:end -->", text, re.S)
    assert block, "README lacks the id-map markers"
    assert block.group(1).strip() == bom.id_map_markdown()
    for joint in CONTRACT.joints:  # belt and braces: each joint's ID appears in the table
        assert f"| `{joint.name}` | {joint.servo_id} | {joint.servo_model} |" in block.group(1)


def test_zero_pose_picture_is_small():
    png = BOM_DIR / "zero_pose.png"
    assert png.exists() and png.stat().st_size < 300_000
