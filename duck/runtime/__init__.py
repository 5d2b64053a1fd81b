"""On-robot runtime. Imports no torch, stable-baselines3, gymnasium or mujoco."""
