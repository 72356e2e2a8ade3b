"""Log formatting: one JSON object per line (or plain text in development),
with secrets scrubbed from whatever reaches the output.

Scrubbing happens in the formatter, the last step before output, so that
lines written by code we do not own (Django's ``Not Found: /files/...``
warnings, the development server's access log) are scrubbed too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

REDACTED = "[redacted]"

_SCRUBBERS = [
    # Signed download links are bearer capabilities: the token is the secret.
    (re.compile(r"(/files/invoices/)[^\s\"'?#]+"), rf"\g<1>{REDACTED}"),
    # API keys (``ik_`` + 43 url-safe characters) wherever they appear.
    (re.compile(r"\bik_[A-Za-z0-9_-]{8,}"), f"ik_{REDACTED}"),
    # Authorization header values (Bearer/Token/Basic credentials).
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1> {REDACTED}"),
]

# Attributes every LogRecord has; anything else was passed in ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Extras never written out even when passed: objects that carry credentials.
_NEVER = {"request", "headers", "authorization", "api_key", "token"}


def scrub(text: str) -> str:
    # What each scrubber needs to find anything: its literal, or one of its
    # words in any case. Most text has none (a request line carries half a
    # dozen strings, none of them secret), and checking for them costs a
    # tenth of running the patterns. Only for ASCII text: elsewhere
    # case-insensitive matching has more equivalents than ``lower()`` (the
    # Kelvin sign matches "k"), so the patterns always run.
    if text.isascii() and "/files/invoices/" not in text and "ik_" not in text:
        lowered = text.lower()
        if "bearer" not in lowered and "token" not in lowered and "basic" not in lowered:
            return text
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


def _plain_value(value):
    """A JSON-friendly version of an extra, or None to leave it out."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if hasattr(value, "hex") and type(value).__name__ == "UUID":
        return str(value)
    return None


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extras}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in _NEVER or key.startswith("_"):
                continue
            plain = _plain_value(value)
            if plain is not None:
                entry[key] = plain
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development, with the extras appended."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(
            f"{key}={plain}"
            for key, value in vars(record).items()
            if key not in _STANDARD
            and key not in _NEVER
            and not key.startswith("_")
            and (plain := _plain_value(value)) is not None
        )
        return scrub(f"{line} {extras}" if extras else line)


class DropAccessLines(logging.Filter):
    """Drops the development server's access lines, which repeat the request
    middleware's line with the raw path; keeps its other records (malformed requests,
    HTTPS spoken to it, broken pipes)."""

    # http.server's log_request format, which runserver's handler keeps.
    ACCESS_FORMAT = '"%s" %s %s'

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self.ACCESS_FORMAT
