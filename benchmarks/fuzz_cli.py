"""The long profile of the CLI fuzz test (tests/test_fuzz_cli.py): 10x the CI examples, fresh seeds.

CI runs the derandomized ``ci`` profile (about 1,100 generated invocations, under a minute).
This runs the ``long`` profile and records how many invocations it generated and how long
it took, in benchmarks/results/fuzz_cli.json.

    python benchmarks/fuzz_cli.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    env = dict(os.environ, DUCK_FUZZ_PROFILE="long", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                        "tests/test_fuzz_cli.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    found = re.search(r"fuzz profile long: (\d+) cases (\{.*\})", r.stdout)
    result = {"profile": "long", "passed": r.returncode == 0, "wall_s": round(wall, 1),
              "cases": int(found.group(1)) if found else None,
              "by_property": json.loads(found.group(2).replace("'", '"')) if found else None}
    print(json.dumps(result, indent=2))
    if r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-2000:], file=sys.stderr)
    (ROOT / "benchmarks" / "results" / "fuzz_cli.json").write_text(json.dumps(result, indent=2) + "\n")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
