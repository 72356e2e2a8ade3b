"""Typed errors of the renderer, for the job that runs it to record."""

from __future__ import annotations


class RenderError(Exception):
    """The snapshot cannot be rendered."""


class SnapshotInconsistent(RenderError):
    """The printed lines would not add up to the snapshot's totals.

    Rendering it would issue a document that is wrong on its face; the same
    snapshot always fails the same way, so retrying cannot help.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
