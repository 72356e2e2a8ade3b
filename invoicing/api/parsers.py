from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """JSON with a size limit. DRF reads the request stream itself, so Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE never applies to API bodies; without this a
    client could make a worker buffer and parse any amount of JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestDataTooBig("request body exceeds the limit")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError:
            # ``[[[[...`` a few thousand deep exhausts Python's stack in the parser.
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH}") from None
        if _depth_exceeds(data, MAX_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH}")
        return data


# No body this API takes nests past a handful of levels; anything deeper is
# refused here, before serializers (which recurse) and PostgreSQL's jsonb see it.
MAX_DEPTH = 32


def _depth_exceeds(data, limit: int) -> bool:
    """Iterative, so the check itself cannot exhaust the stack."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _reject_constant(name: str):
    # NaN and Infinity are not JSON; Python's parser accepts them by default.
    raise ValueError(f"{name} is not valid JSON")
