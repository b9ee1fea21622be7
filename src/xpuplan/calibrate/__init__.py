"""Calibration on real hardware (issue 8): measures a device and writes a calibration file in the
catalog schema. Never imports perf."""
