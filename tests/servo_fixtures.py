"""Shared helpers for the servo tests: the contract's 13 servos on a software servo."""

from __future__ import annotations

from firmware_bridge import ServoSpec

IDS = (10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 30, 31, 32)


def specs(ids=IDS) -> list[ServoSpec]:
    return [ServoSpec(i, "XL330-M288-T" if i >= 30 else "XC330-M288-T") for i in ids]
