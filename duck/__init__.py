"""open-duck: sim-to-real locomotion for the Open Duck Mini.

A bare ``import duck`` stays light (stdlib + numpy): simulation and training live
in ``duck.sim`` / ``duck.train`` and are imported only by the commands that use them.
"""

__version__ = "0.1.0"
