"""Typed, frozen configuration of the walking env. Defaults are the documented ranges.

Override from YAML or the CLI with dotted keys, e.g. ``--set dr.push.max_mps=0.8``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from duck.config import ConfigError, check_interval, check_range

Interval = tuple[float, float]


@dataclass(frozen=True)
class RewardScales:
    """Weight of each reward term (``duck.sim.rewards._reward_<name>``). 0 disables a term."""

    tracking_lin_vel: float = 2.0
    tracking_yaw: float = 1.0
    # The same yaw-rate error on a wide kernel (shape.yaw_coarse_sigma). The sharp one gives no
    # gradient beyond ~0.2 rad/s of error, so a policy that turns at a quarter of a 0.5 rad/s
    # command earns as little as one that does not turn at all: no exp35 checkpoint turned within
    # the bar both ways. On from exp38 (Walk-v4): 5 of 14 checkpoints did, and the weaker
    # direction reached 0.39-0.58 of the command at the others from 4 M (exp35: -0.21-0.62).
    tracking_yaw_coarse: float = 0.5
    alive: float = 0.5
    feet_height: float = 1.5  # phase-based reference swing-foot height (the gait prior)
    feet_contact: float = 0.5  # contact state matches the gait clock
    orientation: float = -5.0
    base_height: float = -100.0
    action_rate: float = -0.05
    torque: float = -0.002
    foot_slip: float = -1.0
    posture: float = -0.5  # hip yaw/roll and head away from home
    stand_still: float = -1.0  # joint motion when the command is zero
    lin_vel_z: float = -2.0
    ang_vel_xy: float = -0.05
    # Swing foot away from the capture point, m^2 (exp23). On from exp28 (Walk-v3): with it a kick
    # asks for a step in its direction; 0 turns it off.
    capture_step: float = -30.0

    def validate(self) -> None:
        pass


@dataclass(frozen=True)
class RewardShape:
    """Shape parameters of the reward terms."""

    lin_vel_sigma: float = 0.01  # exp(-err^2/sigma), err in m/s
    # exp(-err^2/sigma), err in rad/s. 0.02 from exp28 (Walk-v3): at 0.1 the learned-clock gaits
    # settled into a 0.15 rad/s turn when asked to walk straight, which 0.1 barely penalises
    # (exp22, exp26); 0.02 removed it once the symmetry pass ran (exp24 -> exp25).
    yaw_sigma: float = 0.02
    yaw_coarse_sigma: float = 0.25  # tracking_yaw_coarse: exp(-err^2/sigma), err in rad/s
    swing_height_m: float = 0.03  # peak of the reference swing-foot height
    feet_height_sigma: float = 0.0005  # exp(-sum err^2/sigma), err in m
    base_height_m: float = 0.144  # standing height of the trunk at home, settled (model card)
    # capture_step: the pendulum height for omega = sqrt(g / h) (the home CoM height,
    # benchmarks/push_authority.py), the lead of a step over the command's speed (a quarter
    # of the gait period), and the half-width of the stance the walking policies keep
    # (measured 3.8-5.6 cm on exp22; home's is 7.2 cm). The CoM height is the settled home's
    # (Walk-v6, the knee-backward leg: 0.1595 m).
    capture_com_height_m: float = 0.160
    capture_lead_s: float = 0.125
    capture_half_width_m: float = 0.045

    def validate(self) -> None:
        for name in ("lin_vel_sigma", "yaw_sigma", "yaw_coarse_sigma", "feet_height_sigma", "capture_com_height_m"):
            check_range(name, getattr(self, name), 1e-9)
        check_range("swing_height_m", self.swing_height_m, 0.0, 0.1)


@dataclass(frozen=True)
class PushConfig:
    """Random horizontal base-velocity kicks."""

    enabled: bool = True
    # 2-5 s from exp35 (Walk-v4; was 5-10): twice the kicks to learn from, with the std floor
    # (TrainConfig.ppo.min_action_std) that lets the policy find the recovering step.
    interval_s: Interval = (2.0, 5.0)
    # 0.3-1.2 from exp39 (Walk-v5; was 0.1-1.0), the first run to meet the whole walk bar
    # (18 M steps). The fall-gated curriculum then settles at scale 0.6-0.7, so training kicks
    # run ~0.2-0.8 m/s: the same top as before, fewer small kicks (docs/training.md, exp39).
    magnitude_mps: Interval = (0.3, 1.2)

    def validate(self) -> None:
        check_interval("interval_s", self.interval_s, 0.1)
        check_interval("magnitude_mps", self.magnitude_mps, 0.0, 5.0)


# Bounds of a rough floor's geometry (duck/sim/terrain.py), for training's ranges (TerrainConfig)
# and eval's fixed floor (duck/evaluation/transfer.py RoughFloor) alike.
FLOOR_GEOMETRY_BOUNDS = {"bump_height_m": (0.0, 0.05), "slope_deg": (0.0, 15.0), "slope_length_m": (0.05, 10.0),
                         "bump_spacing_m": (0.005, 1.0), "size_m": (1.0, 50.0)}


def check_floor_geometry(cfg) -> None:
    """Each of ``cfg``'s floor-geometry fields, a value or a (min, max) range, within its bounds."""
    for name, (low, high) in FLOOR_GEOMETRY_BOUNDS.items():
        value = getattr(cfg, name)
        (check_interval if isinstance(value, tuple) else check_range)(name, value, low, high)


@dataclass(frozen=True)
class TerrainConfig:
    """Rough floors in training (duck/sim/terrain.py): with ``probability`` an episode walks on a
    heightfield of random bumps on sloped ridges, each drawn per episode from these ranges and a
    random ridge direction; the others on the flat plane. The eval's rough-floor row (bumps up to
    1 cm every 4 cm, 3 deg ridges of 1 m) sits inside the default ranges."""

    # Off by default: from step 0 (exp48, probability 0.5) the policy still stood at 4 M steps where
    # the flat default walked 1.67 m in 10 s. Switched on after the gait exists it is what took the
    # shipped policy from 16 to 21 of 27 items (exp46: 0.5 from 20 M, `--set` on --resume).
    probability: float = 0.0
    bump_height_m: Interval = (0.0, 0.012)
    slope_deg: Interval = (0.0, 4.0)
    slope_length_m: Interval = (0.5, 1.5)
    bump_spacing_m: float = 0.04
    size_m: float = 14.0  # 20 s at the 0.3 m/s top speed is 6 m from the start
    start_radius_m: float = 0.12  # the floor's top within this of the start is at z = 0

    def validate(self) -> None:
        check_range("probability", self.probability, 0.0, 1.0)
        check_floor_geometry(self)
        check_range("start_radius_m", self.start_radius_m, 0.0, 1.0)


@dataclass(frozen=True)
class DomainRandomization:
    """Per-episode dynamics randomization. Ranges are multiplicative scales unless named otherwise."""

    enabled: bool = True
    floor_friction: Interval = (0.5, 1.2)
    link_mass_scale: Interval = (0.9, 1.1)
    trunk_com_offset_m: float = 0.01  # +- on x and y
    # The servo model's parameters (firmware_bridge.servo_model, duck/sim/actuators.py): MuJoCo's
    # kp, kv, forcerange, damping, frictionloss and armature follow from them through the servo law.
    # Supply voltage, one per env (one bus rail): the servo profile's trained range, from a sagging
    # UBEC at peak current to its top (duck/servo_profile.py; tests/test_actuators.py keeps them equal).
    # Stiffness and stall torque scale with it.
    supply_v: Interval = (4.5, 5.3)
    # Per servo: firmware error gain (BAM identifies 0.975-1.16 x nominal across STS3215 sets), torque
    # constant and winding resistance (copper +0.39 %/K: +20 % at 50 K above ambient), gear Coulomb
    # friction (BAM sets span ~3x between units and models; sysid's hidden servo is x2) and viscous
    # friction, armature. Backlash is not randomized here: the linear MJCF path has no free play
    # (benchmarks/servo_model_ab.py shows what 0.5 deg changes).
    servo_error_gain_scale: Interval = (0.9, 1.15)
    servo_kt_scale: Interval = (0.9, 1.1)
    servo_resistance_scale: Interval = (0.9, 1.2)
    servo_coulomb_scale: Interval = (0.5, 2.0)
    servo_viscous_scale: Interval = (0.7, 1.5)
    armature_scale: Interval = (0.8, 1.2)
    joint_offset_rad: float = 0.03  # +- servo zero error
    action_latency_steps: tuple[int, int] = (0, 2)
    imu_latency_steps: tuple[int, int] = (0, 1)
    # x the contract's per-term sensor noise. 0.5: at 1.0 (joint velocity noise 1.5 rad/s, far
    # above a Dynamixel's 0.024 rad/s resolution) noise alone made walking policies fall.
    noise_scale: float = 0.5
    push: PushConfig = field(default_factory=PushConfig)
    terrain: TerrainConfig = field(default_factory=TerrainConfig)

    def validate(self) -> None:
        for name in ("floor_friction", "link_mass_scale", "servo_error_gain_scale", "servo_kt_scale",
                     "servo_resistance_scale", "servo_coulomb_scale", "servo_viscous_scale", "armature_scale"):
            check_interval(name, getattr(self, name), 0.0, 10.0)
        check_interval("supply_v", self.supply_v, 1.0, 30.0)
        check_range("trunk_com_offset_m", self.trunk_com_offset_m, 0.0, 0.05)
        check_range("joint_offset_rad", self.joint_offset_rad, 0.0, 0.3)
        check_range("noise_scale", self.noise_scale, 0.0, 10.0)
        for name in ("action_latency_steps", "imu_latency_steps"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi <= 4:
                raise ConfigError(f"{name}: need 0 <= min <= max <= 4, got {(lo, hi)}")


@dataclass(frozen=True)
class HeadCommandConfig:
    """Random head commands while walking. Teleop moves the head by up to the contract's
    head_command_range_rad (+-0.5 rad) while the robot walks, and the head is about a fifth of
    its mass; up to Walk-v5 training never moved it (issue 21). Each head joint's command is
    uniform over the range x ``range_scale``, held for a random interval; with
    ``home_probability`` the head sits at home for that interval."""

    range_scale: float = 1.0  # 0: the head stays at home (Walk-v5 behaviour)
    resample_interval_s: Interval = (1.0, 4.0)
    home_probability: float = 0.25

    def validate(self) -> None:
        check_range("range_scale", self.range_scale, 0.0, 1.0)
        check_interval("resample_interval_s", self.resample_interval_s, 0.1)
        check_range("home_probability", self.home_probability, 0.0, 1.0)


@dataclass(frozen=True)
class CommandConfig:
    """Command sampling; the ranges themselves come from the contract."""

    resample_interval_s: Interval = (4.0, 8.0)
    stand_probability: float = 0.15
    range_scale: float = 1.0  # fraction of the contract's ranges (curricula, eval)
    head: HeadCommandConfig = field(default_factory=HeadCommandConfig)

    def validate(self) -> None:
        check_interval("resample_interval_s", self.resample_interval_s, 0.1)
        check_range("stand_probability", self.stand_probability, 0.0, 1.0)
        check_range("range_scale", self.range_scale, 0.0, 1.0)


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines ``OpenDuck/Walk-v6``."""

    physics_dt_s: float = 0.004
    episode_length_s: float = 20.0
    fall_tilt_rad: float = 0.8  # ~46 degrees
    fall_height_m: float = 0.09
    init_joint_noise_rad: float = 0.05
    reward: RewardScales = field(default_factory=RewardScales)
    shape: RewardShape = field(default_factory=RewardShape)
    commands: CommandConfig = field(default_factory=CommandConfig)
    dr: DomainRandomization = field(default_factory=DomainRandomization)

    def validate(self) -> None:
        check_range("physics_dt_s", self.physics_dt_s, 0.0002, 0.01)
        from duck.contract import CONTRACT

        substeps = CONTRACT.control_dt_s / self.physics_dt_s  # the sim steps whole substeps per control step
        if abs(substeps - round(substeps)) > 1e-6:
            raise ConfigError(f"physics_dt_s: {self.physics_dt_s:g} does not divide the control period "
                              f"{CONTRACT.control_dt_s:g} s (e.g. {CONTRACT.control_dt_s / 5:g}, "
                              f"{CONTRACT.control_dt_s / 10:g})")
        check_range("episode_length_s", self.episode_length_s, 0.1, 3600.0)
        check_range("fall_tilt_rad", self.fall_tilt_rad, 0.1, 3.2)
        check_range("fall_height_m", self.fall_height_m, 0.0, 0.3)
        check_range("init_joint_noise_rad", self.init_joint_noise_rad, 0.0, 0.5)


def no_randomization(cfg: EnvConfig) -> EnvConfig:
    """The same config with every randomization (pushes, noise, latency, dynamics, head
    commands) off."""
    from dataclasses import replace

    dr = replace(cfg.dr, enabled=False, push=replace(cfg.dr.push, enabled=False))
    commands = replace(cfg.commands, head=replace(cfg.commands.head, range_scale=0.0))
    return replace(cfg, dr=dr, commands=commands, init_joint_noise_rad=0.0)
