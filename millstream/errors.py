"""Base exceptions shared by every package: one base per concern, each message names what failed."""

from __future__ import annotations

__all__ = ["DecodeError", "MillstreamError", "ScenarioError", "SettingsError"]


class MillstreamError(Exception):
    """Base of every error Millstream raises on purpose."""


class SettingsError(MillstreamError):
    """A setting is missing or wrong; the message names the environment variable."""


class ScenarioError(MillstreamError):
    """A scenario / master-data file is malformed; the message names the file, the field and the problem."""


class DecodeError(MillstreamError):
    """A raw message could not become a typed event. `reason` is precise; `error_type` classifies it."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
