"""Runnable examples: ``python -m dev_system.examples.example_integration --help``."""
