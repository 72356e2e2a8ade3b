"""Progress lines from long tests, on the terminal while they run: under
``pytest -q`` and without ``-s``, where a multi-minute system test would
otherwise print one dot at its end.

They go through pytest's terminal reporter with output capturing suspended for
the line (as pytest's live logging does), or to stderr when there is no
reporter (a script importing a test helper)."""

from __future__ import annotations

import contextlib
import sys
import time

_config = None
_started = time.monotonic()


def attach(config) -> None:
    """Called from pytest_configure (tests/conftest.py). The plugins are looked
    up when a line is written: the terminal reporter registers after conftests."""
    global _config
    _config = config


def progress(message: str) -> None:
    line = f"  [{time.monotonic() - _started:6.0f} s] {message}"
    plugins = _config.pluginmanager if _config is not None else None
    reporter = plugins.get_plugin("terminalreporter") if plugins else None
    if reporter is None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
        return
    # The test's output is being captured (file descriptors 1 and 2 included):
    # the line goes out between two captured stretches.
    capture = plugins.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        # Under -q the dots of earlier tests end no line: start a new one.
        writer = getattr(reporter, "_tw", None)
        if writer is not None and writer.width_of_current_line:
            reporter.write("\n")
        reporter.write_line(line)
        reporter.flush()
