"""Where the repository's data lives (MJCF model, shipped policies, BOM)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MJCF_DIR = Path(os.environ.get("DUCK_MJCF_DIR", REPO_ROOT / "mjcf"))
SCENE_XML = MJCF_DIR / "scene.xml"
ROBOT_XML = MJCF_DIR / "duck.xml"
POLICIES_DIR = REPO_ROOT / "policies"
BOM_DIR = REPO_ROOT / "bom"
