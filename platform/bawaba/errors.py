"""The one error type of the project.

Every failure a user can cause or meet carries a stable slug, a message that names what was
wrong, and a hint that says what is valid. The CLI prints them; the API turns them into its
JSON error body in one place.
"""

from __future__ import annotations


class BawabaError(Exception):
    """A failure with a stable slug, a message and a hint for the user."""

    slug: str = "error"

    def __init__(self, message: str, *, hint: str = "", slug: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if slug is not None:
            self.slug = slug

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(BawabaError):
    """A setting, a secret or a definition file is missing or unusable."""

    slug = "config"


class PipelineStepFailed(BawabaError):
    """A named pipeline step failed; the run committed nothing."""

    slug = "pipeline-step-failed"

    def __init__(self, department: str, step: str, cause: BaseException) -> None:
        super().__init__(
            f"pipeline {department!r} failed at step {step!r}: {cause}",
            hint="nothing from this run was committed; fix the cause and run again",
        )
        self.department = department
        self.step = step
        self.__cause__ = cause
