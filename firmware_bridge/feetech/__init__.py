"""The Feetech family (STS3215 and its variants) beside Dynamixel.

- :mod:`.control_table`: STS registers as enums, sign-magnitude codes, variants, units
- :mod:`.protocol`: checksum and packets (for the software servo and the tests)
- :mod:`.bus`: :class:`~.bus.FeetechBus`, the per-cycle bus on ``scservo_sdk``
- :mod:`.provision`: scan / setup / calibration / monitor helpers (not the hot path)

Importing this package loads no SDK; :mod:`.bus` and :mod:`.provision` do.
"""
