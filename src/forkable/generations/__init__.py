"""Generations: upload validation, the lifecycle of a generation, the job runner."""
