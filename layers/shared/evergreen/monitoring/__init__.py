"""Monitoring: pure statistics over the prediction log and the training profile (no I/O)."""
