"""Validation: predict published, measured runs; cross-validate and fit; check a calibrated device."""

from xpuplan.validation.validate import CaseResult, summarise, validate

__all__ = ["CaseResult", "summarise", "validate"]
