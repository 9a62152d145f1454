"""Sealpost: a self-hosted email delivery server, encrypted and authenticated on every hop."""

__version__ = "0.1.0"
