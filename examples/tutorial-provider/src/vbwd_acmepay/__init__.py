"""AcmePay payment provider for vbwd-plugins."""

from ._plugin import AcmePayPlugin as AcmePayPlugin

__all__ = ["AcmePayPlugin"]
