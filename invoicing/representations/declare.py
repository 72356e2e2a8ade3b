"""Declaring a wire shape once: its fields, how each is read from the rows,
what columns it reads, and (derived from the same declaration) the DRF
serializer class that documents it in the OpenAPI schema.

A ``Shape`` renders with plain function calls: DRF's serializers deep-copy and
bind every declared field per instance (about 150 for an invoice with one
fee), which cost more than the rest of a request. The serializer class made
by ``Shape.serializer`` is for the schema (drf-spectacular reads its fields)
and renders through the shape too, so there is one way to produce a body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

# The scalar kinds a field may have, as the OpenAPI schema names them.
STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
DATE = "date"
DATETIME = "date-time"
UUID = "uuid"
URI = "uri"
# A free-form JSON object (``{}`` where Lago sends an empty hash).
OBJECT = "object"

_SCALAR_FIELDS: dict[str, type[serializers.Field]] = {
    STRING: serializers.CharField,
    INTEGER: serializers.IntegerField,
    NUMBER: serializers.FloatField,
    BOOLEAN: serializers.BooleanField,
    DATE: serializers.DateField,
    DATETIME: serializers.DateTimeField,
    UUID: serializers.UUIDField,
    URI: serializers.URLField,
    OBJECT: serializers.DictField,
}

Getter = Callable[[Any, dict], Any]
# Columns a field reads, by model: ``((Model, ("column", ...)), ...)``, as the
# hot-path selectors take them to read only what is rendered.
Reads = tuple[tuple[type[Model], tuple[str, ...]], ...]


@dataclass(frozen=True)
class Field:
    """One key of a shape. ``get(obj, ctx)`` gives its value; for a nested
    shape the child object (or objects, with ``many``), and ``within(obj,
    ctx)`` the context the children render with (the parent's by default)."""

    name: str
    kind: str | Shape
    get: Getter
    null: bool = False
    many: bool = False
    enum: tuple[str, ...] | None = None
    # Documented as a named enum component (two faces use ``payment_status``
    # for different choice sets; drf-spectacular would name both after it).
    enum_name: str | None = None
    help: str = ""
    reads: Reads = ()
    within: Getter | None = None
    # How the compiled renderer may inline the field instead of calling
    # ``get``: a constant (``value`` is the constant), or one attribute of the
    # object (``attr``) passed through ``convert`` when there is one.
    inline: str | None = None
    value: Any = None
    attr: str | None = None
    convert: Callable[[Any], Any] | None = None

    def renderer(self) -> Getter:
        get = self.get
        if not isinstance(self.kind, Shape):
            return get
        render, within = self.kind._render, self.within
        if self.many:
            if within is None:
                return lambda obj, ctx: [render(child, ctx) for child in get(obj, ctx)]
            return lambda obj, ctx: [
                render(child, sub) for sub in (within(obj, ctx),) for child in get(obj, ctx)
            ]

        def nested(obj, ctx):
            child = get(obj, ctx)
            if child is None:
                return None
            return render(child, ctx if within is None else within(obj, ctx))

        return nested


class Shape:
    """An ordered set of fields, rendered into a dict in that order."""

    def __init__(
        self,
        name: str,
        fields: Iterable[Field],
        *,
        doc: str = "",
        model: type[Model] | None = None,
        reads: Reads = (),
        prepare: Getter | None = None,
    ):
        self.name = name
        self.fields = tuple(fields)
        self.doc = doc
        self.model = model
        # Columns read beyond those of the fields (by helpers several share).
        self.extra_reads = reads
        # ``prepare(obj, ctx)`` gives the context the fields read, computed
        # once per object (what several fields need: a time zone, a period).
        self.prepare = prepare
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"{name} declares a field twice")
        self._render = _compile(self)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def render(self, obj, ctx: dict | None = None) -> dict:
        return self._render(obj, {} if ctx is None else ctx)

    def extend(self, name: str, fields: Iterable[Field], *, doc: str = "") -> Shape:
        """This shape's fields, then ``fields``."""
        return Shape(
            name,
            (*self.fields, *fields),
            doc=doc or self.doc,
            model=self.model,
            reads=self.extra_reads,
            prepare=self.prepare,
        )

    def columns(self) -> Reads:
        """Every column the shape reads (nested shapes included), by model,
        in a stable order: what a selector narrows its reads to."""
        found: dict[type[Model], list[str]] = {}

        def add(reads: Reads) -> None:
            for model, names in reads:
                model = model or self.model
                if model is None:
                    continue
                known = found.setdefault(model, [])
                known.extend(n for n in names if n not in known)

        add(self.extra_reads)
        for f in self.fields:
            add(f.reads)
            if isinstance(f.kind, Shape):
                add(f.kind.columns())
        return tuple((model, tuple(names)) for model, names in found.items())

    @functools.cached_property
    def serializer(self) -> type[serializers.Serializer]:
        """A DRF serializer class with this shape's fields, for the schema;
        it renders through the shape (the view's context is the shape's)."""
        attrs: dict[str, Any] = {f.name: _schema_field(f) for f in self.fields}
        attrs["__doc__"] = self.doc or None
        attrs["shape"] = self
        return type(self.name, (ShapeSerializer,), attrs)


_LITERALS = (type(None), bool, int, str)


def _compile(shape: Shape) -> Getter:
    """The shape's renderer as one function returning one dict display, made
    from the declaration: a constant is a literal, a column an attribute read
    (through its conversion), anything else a call of the field's getter.
    A Lago tax renders in about 16 us this way against 22 us looping over
    the fields with a call each (timeit, on the 2-core machines); an invoice
    has about 150 fields."""
    env: dict[str, Any] = {}
    items = []
    for index, f in enumerate(shape.fields):
        if f.inline == "constant" and type(f.value) in _LITERALS:
            expr = repr(f.value)
        elif f.inline == "constant" and f.value in ({}, []):
            expr = repr(f.value)  # a new empty dict or list per body
        elif f.inline == "column" and f.attr.isidentifier():
            expr = f"obj.{f.attr}"
            if f.convert is not None:
                env[f"c{index}"] = f.convert
                expr = f"c{index}({expr})"
        else:
            env[f"g{index}"] = f.renderer()
            expr = f"g{index}(obj, ctx)"
        items.append(f"{f.name!r}: {expr}")
    lines = ["def render(obj, ctx):"]
    if shape.prepare is not None:
        env["prepare"] = shape.prepare
        lines.append("    ctx = prepare(obj, ctx)")
    lines.append("    return {" + ", ".join(items) + "}")
    # The source is made above from the declaration only (names are repr'd,
    # attributes checked to be identifiers): no outside text reaches it.
    exec("\n".join(lines), env)
    return env["render"]


class ShapeSerializer(serializers.Serializer):
    shape: Shape

    def to_representation(self, instance):
        return self.shape.render(instance, self.context)


def _schema_field(f: Field) -> serializers.Field:
    # Options go to the constructors: DRF copies declared fields by calling
    # them again with the same arguments, so attributes set later are lost.
    outer: dict[str, Any] = {"allow_null": f.null}
    if f.help:
        outer["help_text"] = f.help
    if isinstance(f.kind, Shape):
        return f.kind.serializer(many=f.many, **outer)
    inner = {} if f.many else outer
    if f.enum is not None and f.enum_name:
        child = EnumField(f.enum, name=f.enum_name, **inner)
    elif f.enum is not None:
        child = serializers.ChoiceField(choices=list(f.enum), **inner)
    else:
        child = _SCALAR_FIELDS[f.kind](**inner)
    if f.many:
        return serializers.ListField(child=child, **outer)
    return child


class EnumField(serializers.CharField):
    """A string out of ``values``, documented as the enum component ``name``."""

    def __init__(self, values, *, name: str, **kwargs):
        self.values = list(values)
        self.component_name = name
        super().__init__(**kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        component = ResolvedComponent(
            name=field.component_name,
            type=ResolvedComponent.SCHEMA,
            object=field.component_name,
            schema={"type": "string", "enum": field.values},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


# ------------------------------------------------------- field builders


def column(
    name: str,
    kind: str | Shape,
    attr: str | None = None,
    *,
    convert: Callable[[Any], Any] | None = None,
    model: type[Model] | None = None,
    **options,
) -> Field:
    """A field that is one column of the object, ``convert``-ed. ``model`` is
    the object's model, by default the shape's."""
    attr = attr or name
    if convert is None:

        def get(obj, ctx):
            return getattr(obj, attr)
    else:

        def get(obj, ctx):
            return convert(getattr(obj, attr))

    # None stands for the model of the shape the field is declared in.
    return Field(name, kind, get, reads=((model, (attr,)),), inline="column", attr=attr,
                 convert=convert, **options)  # fmt: skip


def constant(name: str, kind: str | Shape, value, **options) -> Field:
    """A field this service always answers the same way (what it does not
    have: no payment provider, no subscription). A mutable value is copied
    per render, so no body shares it with another."""
    if isinstance(value, dict | list):
        return Field(name, kind, lambda obj, ctx: type(value)(value), inline="constant",
                     value=value, **options)  # fmt: skip
    return Field(name, kind, lambda obj, ctx: value, inline="constant", value=value, **options)
