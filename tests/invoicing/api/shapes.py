"""Checking rendered bodies against the output serializers that document them."""

from __future__ import annotations

from rest_framework import serializers


def assert_declared_shape(data, serializer, path="$"):
    """The keys rendered are the fields the schema declares, in order, at
    every level (the output serializers build their dicts themselves)."""
    if isinstance(serializer, serializers.ListSerializer):
        for index, item in enumerate(data):
            assert_declared_shape(item, serializer.child, f"{path}[{index}]")
        return
    assert list(data) == list(serializer.fields), path
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.BaseSerializer) and data[name] is not None:
            assert_declared_shape(data[name], field, f"{path}.{name}")
