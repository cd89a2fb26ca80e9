"""Préau: the real-time server of a school digital workspace (ENT)."""

__version__ = "0.1.0"
