"""What the domain raises for input a caller must fix, or a limit a call would pass.

These carry what a status needs (the field, a message that says what to fix, a reason
constant) and nothing of gRPC: the server maps each to its canonical code and details.
"""

from __future__ import annotations


class DomainError(Exception):
    """A failure the caller should see, with a machine-readable ``reason``."""

    def __init__(self, description: str, reason: str) -> None:
        """Say what is wrong in ``description``; ``reason`` is an UPPER_SNAKE_CASE constant."""
        super().__init__(description)
        self.description = description
        self.reason = reason


class InvalidArgumentError(DomainError):
    """A request field the caller must fix."""

    def __init__(self, field: str, description: str, reason: str) -> None:
        """Name the offending ``field`` (its proto name, dotted for nested fields)."""
        super().__init__(description, reason)
        self.field = field


class ResourceExhaustedError(DomainError):
    """A server limit the call would exceed; ``subject`` names the limit."""

    def __init__(self, subject: str, description: str, reason: str) -> None:
        """Say which limit (``subject``) and what to do (``description``)."""
        super().__init__(description, reason)
        self.subject = subject


def shorten(text: str, limit: int = 40) -> str:
    """Quote caller input for an error message without echoing kilobytes of it back."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"
