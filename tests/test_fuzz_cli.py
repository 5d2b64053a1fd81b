"""Property-based fuzzing of every ``duck`` subcommand's parser and config loader (hypothesis).

Generated bad input: NaN, inf, negative, huge, non-integer and wrong-type numbers for
every numeric option; bad values for every leaf key of the train, env and suite
configs through ``--set`` and YAML files; corrupt and truncated input files (policy,
calibration, IMU config, config.yaml, telemetry log, checkpoint, BOM); unwritable
output paths. Every case must give exit code 2, exactly one line on stderr that names
what was wrong, no traceback, and leave every existing file byte-identical.

The CLI runs in-process through :func:`duck.cli.main`. The expensive work a command
would start (training, the eval suite, rendering, benchmarks, export) is replaced by
a stub that fails the test: bad input must be refused before it.

Profiles: ``ci`` (default, derandomized, ~1 min on the 2-core CI box) and ``long``
(``DUCK_FUZZ_PROFILE=long``, 10x the examples, random seeds; ``benchmarks/fuzz_cli.sh``).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from policy_fixtures import build_policy  # noqa: E402
from safe_fixtures import assert_one_line_error, cli, snapshot  # noqa: E402

CI_EXAMPLES = {"numbers": 250, "configs": 250, "files": 200, "outputs": 120}
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", deadline=None, derandomize=False, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROFILE = os.environ.get("DUCK_FUZZ_PROFILE", "ci")
SCALE = 10 if PROFILE == "long" else 1
settings.load_profile(PROFILE)
CASES: dict[str, int] = {}  # examples run per property (printed at the end of the module)


def examples(kind: str) -> settings:
    return settings(max_examples=CI_EXAMPLES[kind] * SCALE)


# ---- the workspace: pre-existing files that no bad invocation may change --------------------
@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("mujoco")
    from duck.runtime.telemetry import Telemetry

    root = tmp_path_factory.mktemp("fuzz")
    good = build_policy(root / "good.onnx", "zeros")
    (root / "old.json").write_text('{"previous": "summary"}\n')
    (root / "old.onnx").write_bytes(good.read_bytes())
    (root / "calibration.json").write_text('{"version": 1, "joints": {}}\n')
    (root / "plots").mkdir()
    (root / "plots" / "timing.png").write_bytes(b"previous plot")
    blocker = root / "a_file"
    blocker.write_text("a file where a folder is expected")
    fifo = root / "fifo"
    os.mkfifo(fifo)
    log = root / "run.npz"
    tel = Telemetry(log, {"joint_names": ["a"]}, flush_s=1e9)
    for k in range(5):
        tel.record(t=k * 0.02, overrun=False, mode=2, bus_ms=1.0, imu_ms=0.1, inference_ms=0.2, other_ms=0.3)
    tel.close()
    return {"root": root, "good": good, "blocked": blocker / "sub", "blocker": blocker, "fifo": fifo,
            "log": log, "plots": root / "plots", "nonexistent_port": root / "ttyNONE"}


@pytest.fixture()
def no_work(monkeypatch):
    """Every expensive step a command could reach becomes a failure: bad input must stop first."""
    import duck.bench_bus
    import duck.evaluation.suite
    import duck.sim.bench
    import duck.sim.playback
    import duck.train.export
    import duck.train.runner

    def started(*_a, **_k):
        raise WorkStarted("bad input reached the work")

    for module, name in ((duck.train.runner, "train"), (duck.evaluation.suite, "run_suite"),
                         (duck.sim.playback, "record_video"), (duck.sim.playback, "view"),
                         (duck.sim.bench, "main"), (duck.bench_bus, "main"), (duck.train.export, "export")):
        monkeypatch.setattr(module, name, started)
    monkeypatch.setenv("MUJOCO_GL", "egl")


class WorkStarted(Exception):
    """Raised by the stubs: a command got past its input checks to the real work."""


def check(capsys, ws, argv: list[str], *needles: str) -> None:
    before = snapshot(ws["root"])
    code, out, err = cli(capsys, *argv)
    assert_one_line_error(code, err, *needles)
    assert snapshot(ws["root"]) == before, f"{argv} changed a file"


# ---- 1. every numeric option: non-finite, wrong type, out of range --------------------------
@dataclasses.dataclass(frozen=True)
class Num:
    """A numeric option: its valid range, and a command line that would work with a valid value."""

    argv: tuple[str, ...]
    option: str
    low: float
    high: float
    integer: bool = False
    low_open: bool = False


def _numeric_options(ws) -> list[Num]:
    port = str(ws["nonexistent_port"])
    run = ("run", "--policy", str(ws["good"]), "--port", port, "--go")
    sim = ("sim", "--policy", str(ws["good"]), "--video", str(ws["root"] / "new.mp4"), "--seconds", "0.1")
    return [
        Num(run, "--ramp", 0, 60, low_open=True), Num(run, "--duration", 0, 86_400, low_open=True),
        Num(run, "--baud", 9600, 4_500_000, True), Num(run, "--rt-priority", 1, 99, True),
        Num(run, "--cpu", 0, 1023, True), Num(run, "--sim-supply-v", 0, 30, low_open=True),
        Num(sim, "--seconds", 0, 3600, low_open=True),
        Num(("bench", "sim", "--seconds", "0.1"), "--envs", 1, 4096, True),
        Num(("bench", "sim", "--envs", "1"), "--seconds", 0, 3600, low_open=True),
        Num(("bench", "bus", "--bauds", "1000000"), "--cycles", 1, 1_000_000, True),
        Num(("bench", "bus", "--cycles", "1"), "--bauds", 9600, 4_500_000, True),
        Num(("servo", "monitor", "--port", port), "--hz", 0, 100, low_open=True),
        Num(("servo", "monitor", "--port", port), "--baud", 9600, 4_500_000, True),
        Num(("servo", "scan", "--port", port), "--baud", 9600, 4_500_000, True),
        Num(("servo", "setup", "--port", port, "--all"), "--p-gain", 0, 16383, True),
        Num(("servo", "setup", "--port", port, "--all"), "--d-gain", 0, 16383, True),
        Num(("servo", "setup", "--port", port, "--joint", "right_knee"), "--current-id", 0, 252, True),
        Num(("servo", "setup", "--port", port, "--all"), "--current-baud", 9600, 4_500_000, True),
        Num(("servo", "calibrate", "--port", port, "--yes", "--out", str(ws["root"] / "new_cal.json")), "--baud",
            9600, 4_500_000, True),
        Num(("servo", "emulate", "--fault", "gremlin:1"), "--return-delay", 0, 254, True),
        Num(("train", "--run-dir", str(ws["root"] / "new_run")), "--steps", 1, 10**12, True),
    ]


def bad_number(spec: Num) -> st.SearchStrategy[str]:
    junk = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "", " ", "abc",
                            "1,2", "0x10", "1e", "--", "None", "true", "[1]", "½", "1_0.0.0"])
    below = st.floats(max_value=spec.low, exclude_max=not spec.low_open, allow_nan=False, allow_infinity=False,
                      min_value=-1e300)
    above = st.floats(min_value=spec.high, exclude_min=True, allow_nan=False, allow_infinity=False)
    out_of_range = st.one_of(below, above).map(lambda v: str(int(v)) if spec.integer and v == int(v) else repr(v))
    if spec.integer:
        out_of_range = st.one_of(
            st.integers(max_value=int(spec.low) - 1, min_value=-(10**30)).map(str),
            st.integers(min_value=int(spec.high) + 1, max_value=10**30).map(str),
            st.floats(min_value=spec.low, max_value=spec.high).filter(lambda v: v != int(v)).map(repr))
    return st.one_of(junk, out_of_range)


@examples("numbers")
@given(data=st.data())
def test_fuzz_numeric_options(data, ws, no_work, capsys) -> None:
    spec = data.draw(st.sampled_from(_numeric_options(ws)), label="option")
    value = data.draw(bad_number(spec), label="value")
    CASES["numbers"] = CASES.get("numbers", 0) + 1
    check(capsys, ws, [*spec.argv, f"{spec.option}={value}"], spec.option)


@examples("numbers")
@given(data=st.data())
def test_fuzz_command_vectors(data, ws, no_work, capsys) -> None:
    """``--command vx,vy,yaw`` for run and sim: any non-finite, missing, extra or out-of-range entry."""
    from duck.contract import CONTRACT

    low, high = CONTRACT.commands.as_arrays()
    entry = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "", "x"]),
                      st.floats(allow_nan=False, allow_infinity=False).map(repr))
    values = data.draw(st.lists(entry, min_size=0, max_size=5), label="values")

    def fine(v: list[str]) -> bool:
        try:
            nums = [float(x) for x in v]
        except ValueError:
            return False
        return len(nums) == 3 and all(lo - 1e-9 <= n <= hi + 1e-9 for n, lo, hi in zip(nums, low, high))

    hypothesis.assume(not fine(values))
    command = ",".join(values)
    which = data.draw(st.sampled_from(["run", "sim"]), label="command")
    base = (["run", "--policy", str(ws["good"]), "--port", str(ws["nonexistent_port"]), "--go"] if which == "run"
            else ["sim", "--policy", str(ws["good"]), "--video", str(ws["root"] / "new.mp4")])
    CASES["numbers"] = CASES.get("numbers", 0) + 1
    check(capsys, ws, [*base, f"--command={command}"], "--command")


# ---- 2. every leaf of the configs, through --set and YAML files ------------------------------
def _leaves(cls: type, prefix: str = "") -> list[tuple[str, typing.Any]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _leaves(tp, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", tp))
    return out


NON_FINITE = [".nan", ".NaN", ".inf", "-.inf", "1e999", "-1e999", "+.Inf"]
WRONG_TYPE = ["abc", "'1.0'", "{a: 1}", "[[1]]"]


def bad_config_value(tp: typing.Any) -> st.SearchStrategy[str]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    optional = origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)) \
        and type(None) in args
    if optional:
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is float:
        return st.sampled_from(NON_FINITE + WRONG_TYPE + ["true", "[1.0]"])
    if tp is int:
        return st.one_of(st.sampled_from(NON_FINITE + WRONG_TYPE + ["true", "1.5", "3e2", "[1]"]),
                         st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != int(v)).map(repr))
    if tp is bool:
        return st.sampled_from(["1", "0", "yes", "no", "on", "off", "abc", "[true]", "2.5"])
    if tp is str:
        return st.sampled_from(["5", "1.5", "[a]", "{a: 1}", "true", "definitely-not-a-choice"])
    if origin is tuple:
        inner = args[0]
        bad_inner = st.sampled_from(NON_FINITE + ["abc", "true"] + (["1.5"] if inner is int else []))
        return st.one_of(st.sampled_from(["abc", "5", "{a: 1}", "true"]),
                         bad_inner.map(lambda v: f"[{v}, {v}]"))
    raise AssertionError(f"no bad values for {tp}")


def _config_targets() -> list[tuple[str, str, typing.Any]]:
    from duck.evaluation.suite import SuiteSettings
    from duck.evaluation.transfer import TransferSettings
    from duck.sim.config import EnvConfig
    from duck.train.config import TrainConfig

    out = [("train", key, tp) for key, tp in _leaves(TrainConfig)]
    out += [("eval", f"transfer.{key}", tp) for key, tp in _leaves(TransferSettings)]
    out += [("eval", key, tp) for key, tp in _leaves(EnvConfig)]
    out += [("eval", f"suite.{key}", tp) for key, tp in _leaves(SuiteSettings)]
    out += [("sim", key, tp) for key, tp in _leaves(EnvConfig)]
    out += [("imu", key, tp) for key, tp in (("rate_hz", float), ("i2c_bus", int), ("address", int))]
    return out


@examples("configs")
@given(data=st.data())
def test_fuzz_config_overrides_and_files(data, ws, no_work, capsys) -> None:
    command, key, tp = data.draw(st.sampled_from(_config_targets()), label="key")
    value = data.draw(bad_config_value(tp), label="value")
    via_file = command == "train" and data.draw(st.booleans(), label="yaml file")
    root = ws["root"]
    if command == "imu":  # the robot's IMU config file, read before the bus opens
        path = root.parent / "fuzz_imu.yaml"
        path.write_text(f"{{{key}: {value}}}\n")
        argv = ["run", "--policy", str(ws["good"]), "--port", str(ws["nonexistent_port"]), "--imu-config", str(path)]
    elif command == "train":
        argv = ["train", "--run-dir", str(root / "new_run")]
        if via_file:
            path = root.parent / "fuzz_config.yaml"  # outside the snapshotted workspace
            nested = value
            for part in reversed(key.split(".")):
                nested = f"{{{part}: {nested}}}"
            path.write_text(nested + "\n")
            argv += ["--config", str(path)]
        else:
            argv += ["--set", f"{key}={value}"]
    elif command == "eval":
        argv = ["eval", "--policy", str(ws["good"]), "--set", f"{key}={value}"]
    else:
        argv = ["sim", "--policy", str(ws["good"]), "--video", str(root / "new.mp4"), "--set", f"{key}={value}"]
    CASES["configs"] = CASES.get("configs", 0) + 1
    check(capsys, ws, argv, key.split(".")[-1])


# ---- 3. corrupt and truncated input files ---------------------------------------------------
def _valid_inputs(ws) -> dict[str, bytes]:
    import json

    from duck.calibration import Calibration
    from duck.config import to_dict
    from duck.train.config import TrainConfig

    yaml = pytest.importorskip("yaml")
    return {
        "policy": ws["good"].read_bytes(),
        "calibration": (json.dumps(Calibration.default().to_dict(), indent=2) + "\n").encode(),
        "config": yaml.safe_dump(to_dict(TrainConfig())).encode(),
        "log": ws["log"].read_bytes(),
        "imu": b"interface: i2c\naddress: 0x28\nmount: x,y,z\n",
        "bom": __import__("duck.bom", fromlist=["BOM_CSV"]).BOM_CSV.read_bytes(),
        "run_config": yaml.safe_dump(to_dict(TrainConfig())).encode(),
    }


def _consumers(ws, path: str) -> dict[str, list[list[str]]]:
    port = str(ws["nonexistent_port"])
    good = str(ws["good"])
    return {
        "policy": [["run", "--policy", path, "--port", port], ["eval", "--policy", path],
                   ["sim", "--policy", path, "--video", str(ws["root"] / "new.mp4")]],
        "calibration": [["run", "--policy", good, "--port", port, "--calibration", path],
                        ["servo", "setup", "--port", port, "--all", "--calibration", path],
                        ["servo", "monitor", "--port", port, "--calibration", path]],
        "config": [["train", "--run-dir", str(ws["root"] / "new_run"), "--config", path]],
        "log": [["log", "show", path], ["log", "plot", path, "--out", str(ws["root"].parent / "fuzz_plots")]],
        "imu": [["run", "--policy", good, "--port", port, "--imu-config", path]],
        "bom": [["bom", "--csv", path], ["bom", "--json", "--csv", path]],
        # A run directory whose config.yaml is damaged (path is RUN/config.yaml).
        "run_config": [["export", str(Path(path).parent)],
                       ["train", "--run-dir", str(Path(path).parent), "--resume"]],
    }


@examples("files")
@given(data=st.data())
def test_fuzz_corrupt_input_files(data, ws, no_work, capsys) -> None:
    valid = _valid_inputs(ws)
    kind = data.draw(st.sampled_from(sorted(valid)), label="kind")
    content = valid[kind]
    how = data.draw(st.sampled_from(["truncate", "garbage", "flip"]), label="damage")
    if how == "truncate":
        content = content[:data.draw(st.integers(0, len(content.rstrip()) - 2), label="cut")]
    elif how == "garbage":
        content = data.draw(st.binary(max_size=600), label="bytes")
    else:  # one byte changed inside the structure
        i = data.draw(st.integers(0, len(content) - 1), label="at")
        content = content[:i] + bytes([content[i] ^ data.draw(st.integers(1, 255), label="xor")]) + content[i + 1:]
    path = ws["root"].parent / f"fuzz_input_{kind}"
    if kind == "run_config":
        path.mkdir(exist_ok=True)
        path = path / "config.yaml"
    path.write_bytes(content)
    argv = data.draw(st.sampled_from(_consumers(ws, str(path))[kind]), label="argv")
    CASES["files"] = CASES.get("files", 0) + 1
    before = snapshot(ws["root"])
    try:
        code, out, err = cli(capsys, *argv)
    except WorkStarted:
        code, err = None, capsys.readouterr().err
    if code != 2:
        # Damage can leave a valid file (a YAML cut at a line end, a flipped weight or name):
        # then the command may go on. That is fine only if the file really is valid.
        assert "Traceback" not in err, err
        assert _loader_accepts(kind, path), f"{argv} accepted a damaged {kind} file (exit {code}): {err}"
        hypothesis.assume(False)
    assert_one_line_error(code, err)
    assert snapshot(ws["root"]) == before


def _loader_accepts(kind: str, path: Path) -> bool:
    from duck.bom import load_bom
    from duck.calibration import load_calibration
    from duck.config import load
    from duck.errors import UserError
    from duck.runtime.imu import load_imu_config
    from duck.runtime.policy import load_policy
    from duck.runtime.telemetry import load_log
    from duck.train.config import TrainConfig

    loaders = {"policy": load_policy, "calibration": load_calibration, "config": lambda p: load(TrainConfig, p),
               "log": lambda p: len(load_log(p)) > 0 or (_ for _ in ()).throw(UserError("empty")),
               "imu": load_imu_config, "bom": load_bom,
               "run_config": lambda p: load(TrainConfig, p, allow_empty=False)}
    try:
        loaders[kind](path)
    except (UserError, ValueError, OSError):
        return False
    return True


# ---- 4. unwritable outputs -----------------------------------------------------------------
def _outputs(ws) -> list[tuple[list[str], str, bool]]:
    """(argv without the output, output option, whether it names a folder)."""
    good, port = str(ws["good"]), str(ws["nonexistent_port"])
    return [
        (["run", "--policy", good, "--port", port, "--go"], "--json", False),
        (["run", "--policy", good, "--port", port, "--go"], "--log", False),
        (["eval", "--policy", good], "--json", False),
        (["eval", "--policy", good], "--plots", True),
        (["sim", "--policy", good], "--video", False),
        (["bench", "sim", "--envs", "1"], "--json", False),
        (["bench", "bus", "--cycles", "1"], "--json", False),
        (["log", "plot", str(ws["log"])], "--out", True),
        (["servo", "calibrate", "--port", port, "--yes"], "--out", False),
        (["train"], "--run-dir", True),
        (["export", str(ws["root"])], "--out", False),
    ]


@examples("outputs")
@given(data=st.data())
def test_fuzz_unwritable_outputs(data, ws, no_work, capsys) -> None:
    argv, option, folder = data.draw(st.sampled_from(_outputs(ws)), label="output")
    name = data.draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                             min_size=1, max_size=12), label="name")
    choices = [str(ws["blocked"] / name), str(ws["blocker"] / name / name), str(ws["fifo"])]
    if not folder:
        choices += [str(ws["plots"]), str(ws["root"]), ""]  # a folder (or none) where a file is expected
    else:
        choices += [str(ws["blocker"])]  # a file where a folder is expected
    target = data.draw(st.sampled_from(choices), label="path")
    CASES["outputs"] = CASES.get("outputs", 0) + 1
    check(capsys, ws, [*argv, f"{option}={target}"], option)


def test_fuzz_case_counts() -> None:
    """Runs last in this module: how many generated cases the properties above ran."""
    total = sum(CASES.values())
    print(f"\nfuzz profile {PROFILE}: {total} cases {CASES}")
    if CASES:
        assert total >= 100
