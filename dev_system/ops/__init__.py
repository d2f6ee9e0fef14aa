"""Operational modules of dev_system: recording, storage, metrics and reports."""
