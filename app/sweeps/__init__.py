"""Sweeps: one job per point of a grid or a random search over spec fields."""
