"""The bill of materials (``bom/bom.csv``): load, validate, total and cross-check.

The CSV is data the code checks, so the shopping list cannot drift from the
software: the servo rows must name exactly the contract's joints and servo
models, every price needs a source and a date, and the parts' mass must agree
with the MJCF model within :data:`MASS_TOLERANCE`.

Row numbers in messages count the header as row 1, as a spreadsheet shows them.

Only the standard library is imported at module level; the contract (numpy) and
mujoco are imported inside the functions that need them.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from duck.errors import UserError
from duck.paths import BOM_DIR, SCENE_XML

BOM_CSV = BOM_DIR / "bom.csv"

COLUMNS = (
    "part",
    "category",
    "qty",
    "unit_price_usd",
    "currency_quoted",
    "supplier",
    "url",
    "date_checked",
    "mass_g",
    "notes",
    "joint",
)

SERVO_CATEGORY = "servo"
# Parts that do not ride on the robot (the gamepad): costed, but left out of the mass.
OFFBOARD_CATEGORY = "offboard"

MASS_TOLERANCE = 0.20
"""Allowed relative gap between the BOM's on-robot mass and the MJCF total mass.

Why 20 %: the MJCF masses come from the upstream CAD and lump everything into
links (the trunk's 0.50 kg holds the printed body, Pi, U2D2, battery, wiring and
screws). The BOM's least certain line is the printed-plastic mass, about 40 % of
the total; a 50 % error there moves the total by ~20 %. A wider band would miss
a forgotten battery pack plus cells; a narrower one would claim more than the
print-mass estimate knows.
"""


class BomError(UserError):
    """The CSV is malformed. ``problems`` holds every row-numbered message."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more; run `duck bom --check`)" if len(problems) > 1 else ""
        super().__init__(f"{path}: {problems[0]}{more}")


@dataclass(frozen=True)
class BomRow:
    """One CSV row, with its spreadsheet row number (header = row 1)."""

    row: int
    part: str
    category: str
    qty: float
    unit_price_usd: float
    currency_quoted: str
    supplier: str
    url: str
    date_checked: str
    mass_g: float
    notes: str
    joint: str

    @property
    def cost_usd(self) -> float:
        return self.qty * self.unit_price_usd

    @property
    def line_mass_g(self) -> float:
        return self.qty * self.mass_g

    @property
    def onboard(self) -> bool:
        return self.category != OFFBOARD_CATEGORY

    @property
    def is_estimate(self) -> bool:
        return self.url.lower().startswith("estimate:")


# ---- parsing ------------------------------------------------------------------------
def _number(raw: str, column: str, row: int, problems: list[str], *, positive: bool) -> float:
    text = (raw or "").strip()
    if not text:
        problems.append(f"row {row}: missing {column}")
        return 0.0
    try:
        value = float(text)
    except ValueError:
        problems.append(f"row {row}: {column} {text!r} is not a number")
        return 0.0
    if value != value or value in (float("inf"), float("-inf")):
        problems.append(f"row {row}: {column} {text!r} is not a finite number")
        return 0.0
    if value < 0 or (positive and value == 0):
        problems.append(f"row {row}: {column} must be {'> 0' if positive else '>= 0'}, got {text}")
    return value


def _source_ok(url: str) -> bool:
    # A source is either a link we read or an estimate that names its basis.
    url = url.strip()
    if url.lower().startswith("estimate:"):
        return len(url) > len("estimate:") + 3
    return url.startswith(("http://", "https://"))


def parse_bom(path: Path | str = BOM_CSV) -> tuple[list[BomRow], list[str]]:
    """Read the CSV; return the rows that parsed and every row-numbered problem."""
    path = Path(path)
    try:
        # utf-8-sig: Excel's "CSV UTF-8" export starts with a byte-order mark.
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read BOM {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            rows, problems = _parse_rows(path, handle)
    except UnicodeDecodeError as exc:
        raise UserError(f"BOM {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise UserError(f"BOM {path} is not a readable CSV: {exc}") from None
    if not rows and not problems:
        problems.append("row 2: the BOM has no rows")
    if rows and not (math.isfinite(total_usd(rows)) and math.isfinite(onboard_mass_g(rows))):
        problems.append("the totals overflow (a qty, price or mass is absurdly large)")
    return rows, problems


def _parse_rows(path: Path, handle) -> tuple[list[BomRow], list[str]]:
    rows: list[BomRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BomError(path, [f"row 1: header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}"])
    for record in reader:
        n = reader.line_num  # the last physical line of this record
        if None in record:
            problems.append(f"row {n}: more fields than the header has columns")
        get = {c: (record.get(c) or "").strip() for c in COLUMNS}
        if not any(get.values()):
            continue  # blank line
        for column in ("part", "category", "supplier"):
            if not get[column]:
                problems.append(f"row {n}: missing {column}")
        qty = _number(get["qty"], "qty", n, problems, positive=True)
        price = _number(get["unit_price_usd"], "unit_price_usd", n, problems, positive=False)
        mass = _number(get["mass_g"], "mass_g", n, problems, positive=False)
        if not (math.isfinite(qty * price) and math.isfinite(qty * mass)):
            problems.append(f"row {n}: qty x unit_price_usd or qty x mass_g is not a finite number")
        key = (get["part"].lower(), get["joint"])
        if get["part"] and key in seen:
            problems.append(f"row {n}: duplicates row {seen[key]} (part {get['part']!r}"
                            + (f", joint {get['joint']!r})" if get["joint"] else "); raise its qty instead"))
        seen.setdefault(key, n)
        if not get["url"]:
            problems.append(f"row {n}: missing source (url, or 'estimate: <basis>')")
        elif not _source_ok(get["url"]):
            problems.append(f"row {n}: source {get['url']!r} is neither an http(s) link nor 'estimate: <basis>'")
        if not get["currency_quoted"]:
            problems.append(f"row {n}: missing currency_quoted (the price as the source states it)")
        if not get["date_checked"]:
            problems.append(f"row {n}: missing date_checked")
        else:
            try:
                _dt.date.fromisoformat(get["date_checked"])
            except ValueError:
                problems.append(f"row {n}: date_checked {get['date_checked']!r} is not an ISO date (YYYY-MM-DD)")
        rows.append(
            BomRow(
                n,
                get["part"],
                get["category"],
                qty,
                price,
                get["currency_quoted"],
                get["supplier"],
                get["url"],
                get["date_checked"],
                mass,
                get["notes"],
                get["joint"],
            )
        )
    return rows, problems


def load_bom(path: Path | str = BOM_CSV) -> list[BomRow]:
    """Rows of a well-formed CSV, or :class:`BomError` naming the first problem."""
    rows, problems = parse_bom(path)
    if problems:
        raise BomError(Path(path), problems)
    return rows


# ---- totals -------------------------------------------------------------------------
def cost_by_category(rows: list[BomRow]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        out[r.category] = out.get(r.category, 0.0) + r.cost_usd
    return out


def total_usd(rows: list[BomRow]) -> float:
    return sum(r.cost_usd for r in rows)


def onboard_mass_g(rows: list[BomRow]) -> float:
    """Mass of what rides on the robot (what the MJCF models)."""
    return sum(r.line_mass_g for r in rows if r.onboard)


def summary(rows: list[BomRow], path: Path | str = BOM_CSV) -> dict:
    """Machine-readable totals and rows (``duck bom --json``)."""
    return {
        "csv": str(path),
        "total_usd": round(total_usd(rows), 2),
        "total_mass_g": round(onboard_mass_g(rows), 1),
        "offboard_mass_g": round(sum(r.line_mass_g for r in rows if not r.onboard), 1),
        "cost_by_category_usd": {k: round(v, 2) for k, v in cost_by_category(rows).items()},
        "estimated_price_rows": sum(r.is_estimate for r in rows),
        "rows": [asdict(r) | {"cost_usd": round(r.cost_usd, 2)} for r in rows],
    }


# ---- cross-checks -------------------------------------------------------------------
def check_servos(rows: list[BomRow]) -> list[str]:
    """Servo rows against the contract: same joints, one row each, same models."""
    from duck.contract import CONTRACT

    expected = {j.name: j for j in CONTRACT.joints}
    problems: list[str] = []
    seen: dict[str, int] = {}
    servo_rows = [r for r in rows if r.category == SERVO_CATEGORY]
    for r in rows:
        if r.category != SERVO_CATEGORY:
            if r.joint:
                problems.append(f"row {r.row}: joint {r.joint!r} set on a non-servo row (category {r.category!r})")
            continue
        if not r.joint:
            problems.append(f"row {r.row}: servo row has no joint (one row per servo, keyed by contract joint name)")
            continue
        if r.joint not in expected:
            problems.append(f"row {r.row}: unknown joint {r.joint!r}; contract joints are {', '.join(expected)}")
            continue
        if r.joint in seen:
            problems.append(f"row {r.row}: joint {r.joint!r} listed twice (also row {seen[r.joint]})")
            continue
        seen[r.joint] = r.row
        model = expected[r.joint].servo_model
        if model.lower() not in r.part.lower():
            problems.append(f"row {r.row}: joint {r.joint!r} needs a {model} (contract), but the part is {r.part!r}")
        if r.qty != 1:
            problems.append(f"row {r.row}: servo row qty must be 1 (one row per servo), got {r.qty:g}")
    if len(servo_rows) != CONTRACT.num_joints:
        first = servo_rows[0].row if servo_rows else "-"
        last = servo_rows[-1].row if servo_rows else "-"
        lacking = [n for n in expected if n not in seen]
        problems.append(
            f"rows {first}-{last}: {len(servo_rows)} servo rows, the contract has {CONTRACT.num_joints} joints"
            + (f"; missing {', '.join(lacking)}" if lacking else "")
        )
    elif len(seen) < len(expected):
        problems.append(f"servo rows lack joint(s) {', '.join(n for n in expected if n not in seen)}")
    return problems


def mjcf_mass_g(scene_xml: Path = SCENE_XML) -> float:
    """Total robot mass of the MJCF model (g). Raises ImportError without mujoco."""
    import mujoco  # heavy and absent on the Pi: import only here

    model = mujoco.MjModel.from_xml_path(str(scene_xml))
    return float(model.body_subtreemass[0]) * 1000.0  # world subtree = the whole robot


def check_mass(
    rows: list[BomRow], scene_xml: Path = SCENE_XML, tolerance: float = MASS_TOLERANCE
) -> tuple[list[str], str]:
    """BOM on-robot mass vs the MJCF total. Returns (problems, a one-line report)."""
    try:
        model_g = mjcf_mass_g(scene_xml)
    except ImportError:
        return [], "mass check skipped: mujoco is not installed (pip install -e '.[sim]' to compare with the MJCF)"
    except Exception as exc:  # mujoco raises ValueError for unreadable XML
        return [f"cannot load MJCF {scene_xml}: {exc}"], ""
    bom_g = onboard_mass_g(rows)
    gap = (bom_g - model_g) / model_g
    line = f"mass: BOM {bom_g:.0f} g vs MJCF {model_g:.0f} g ({gap:+.1%}, tolerance ±{tolerance:.0%})"
    if abs(gap) > tolerance:
        return [line + " — outside the tolerance; check the mass_g column (grams per unit)"], line
    return [], line


def run_checks(path: Path | str = BOM_CSV, scene_xml: Path = SCENE_XML) -> tuple[list[str], list[str]]:
    """Every check. Returns (problems, info lines); no problems means the BOM passes."""
    rows, problems = parse_bom(path)
    problems = problems + check_servos(rows)
    mass_problems, mass_line = check_mass(rows, scene_xml)
    info = [mass_line] if mass_line else []
    return problems + mass_problems, info


# ---- build guide helpers --------------------------------------------------------------
def id_map_markdown() -> str:
    """The servo ID map as a markdown table, generated from the contract."""
    from duck.contract import CONTRACT

    lines = ["| joint | servo ID | servo model | group |", "|---|---:|---|---|"]
    lines += [f"| `{j.name}` | {j.servo_id} | {j.servo_model} | {j.group} |" for j in CONTRACT.joints]
    return "\n".join(lines)
