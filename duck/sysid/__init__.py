"""System identification of one servo carrying a known load (``duck sysid``).

The recording side (:mod:`.excitation`, :mod:`.load`, :mod:`.recording`) needs only
numpy and firmware_bridge, so ``duck sysid record`` runs on the robot's Pi. The
fitting side (:mod:`.replay`, :mod:`.fit`, :mod:`.compare`, :mod:`.plots`) uses
MuJoCo, scipy and matplotlib and runs on a laptop.
"""
