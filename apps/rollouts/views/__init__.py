"""Rollout pages: the wave scheduler with a wave's extras, and the rollout console."""
