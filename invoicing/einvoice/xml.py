"""A small element builder over lxml: the documents are a few hundred
elements, written once per invoice version."""

from __future__ import annotations

from lxml import etree


class Builder:
    def __init__(self, namespaces: dict[str, str]) -> None:
        self.ns = namespaces
        # lxml names the default namespace None.
        self.nsmap = {prefix or None: uri for prefix, uri in namespaces.items()}

    def _tag(self, name: str) -> str:
        prefix, _, local = name.rpartition(":")
        return f"{{{self.ns[prefix]}}}{local}"

    def root(self, name: str) -> etree._Element:
        return etree.Element(self._tag(name), nsmap=self.nsmap)

    def sub(self, parent, name: str, text: str | None = None, **attrs) -> etree._Element:
        element = etree.SubElement(
            parent, self._tag(name), {k: v for k, v in attrs.items() if v}
        )
        if text is not None:
            element.text = text
        return element

    def opt(self, parent, name: str, text: str, **attrs) -> None:
        """An element only when it has text: EN 16931 forbids empty ones
        (PEPPOL-EN16931-R008)."""
        if text and text.strip():
            self.sub(parent, name, text.strip(), **attrs)

    def serialize(self, root) -> bytes:
        return etree.tostring(root, encoding="UTF-8", xml_declaration=True)
