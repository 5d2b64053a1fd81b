"""The known load a servo is identified with: a test arm on the servo horn.

A rigid arm of ``arm_mass_kg`` (a uniform bar of ``length_m``) carrying a point
mass ``mass_kg`` at its tip, on a horizontal servo axis; angle 0 is the arm
hanging straight down. A robot leg held in the air is the same to first order:
give its mass and the distance from the hip axis to its centre of mass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

G = 9.81


@dataclass(frozen=True)
class TestArm:
    __test__ = False  # not a pytest class

    mass_kg: float = 0.10
    length_m: float = 0.10
    arm_mass_kg: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.length_m <= 0.5:
            raise ValueError(f"arm length must be in (0, 0.5] m, got {self.length_m}")
        if self.mass_kg < 0 or self.arm_mass_kg < 0 or self.mass_kg + self.arm_mass_kg <= 0:
            raise ValueError("the test arm needs a positive mass (tip mass and/or arm mass)")
        if self.mass_kg + self.arm_mass_kg > 2.0:
            raise ValueError(f"a {self.mass_kg + self.arm_mass_kg} kg load would stall a 330-series servo")

    @property
    def inertia_kg_m2(self) -> float:
        """About the servo axis."""
        return self.mass_kg * self.length_m**2 + self.arm_mass_kg * self.length_m**2 / 3.0

    @property
    def gravity_moment_nm(self) -> float:
        """Gravity's largest torque on the servo (arm horizontal)."""
        return G * (self.mass_kg * self.length_m + self.arm_mass_kg * self.length_m / 2.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TestArm:
        return cls(**{k: float(d[k]) for k in ("mass_kg", "length_m", "arm_mass_kg") if k in d})
