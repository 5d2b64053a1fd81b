"""Training side: PPO on the batched VecEnv, checkpoints, ONNX export. Imports torch and SB3."""
