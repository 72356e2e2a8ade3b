"""Checking rendered bodies against the shapes that declare them."""

from __future__ import annotations

import datetime as dt
import uuid

from rest_framework import serializers

from invoicing.representations import declare
from invoicing.representations.declare import Shape


def assert_declared_shape(data, serializer, path="$"):
    """The keys rendered are the fields the schema declares, in order, at
    every level (the serializer classes the schema is made from)."""
    if isinstance(serializer, serializers.ListSerializer):
        for index, item in enumerate(data):
            assert_declared_shape(item, serializer.child, f"{path}[{index}]")
        return
    assert list(data) == list(serializer.fields), path
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.BaseSerializer) and data[name] is not None:
            assert_declared_shape(data[name], field, f"{path}.{name}")


def _scalar_ok(kind: str, value) -> bool:
    if kind == declare.STRING:
        return isinstance(value, str)
    if kind == declare.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == declare.NUMBER:
        return isinstance(value, float | int) and not isinstance(value, bool)
    if kind == declare.BOOLEAN:
        return isinstance(value, bool)
    if kind == declare.DATE:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    if kind == declare.DATETIME:
        return isinstance(value, str) and dt.datetime.fromisoformat(value).tzinfo is not None
    if kind == declare.UUID:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    if kind == declare.URI:
        return isinstance(value, str) and value.startswith(("http://", "https://"))
    if kind == declare.OBJECT:
        return isinstance(value, dict)
    raise AssertionError(f"unknown kind {kind}")


def assert_matches_shape(data, shape: Shape, path="$"):
    """Every key the shape declares, in order, and each value of the declared
    kind: null only where declared nullable, one of the enum where declared."""
    assert isinstance(data, dict), path
    assert list(data) == shape.names, path
    for f in shape.fields:
        value, where = data[f.name], f"{path}.{f.name}"
        if value is None:
            assert f.null, f"{where} is null but not declared nullable"
            continue
        items = value if f.many else [value]
        if f.many:
            assert isinstance(value, list), where
        for index, item in enumerate(items):
            at = f"{where}[{index}]" if f.many else where
            if isinstance(f.kind, Shape):
                assert_matches_shape(item, f.kind, at)
            else:
                assert _scalar_ok(f.kind, item), f"{at} = {item!r} is not a {f.kind}"
                if f.enum is not None:
                    assert item in f.enum, f"{at} = {item!r} not in {f.enum}"
