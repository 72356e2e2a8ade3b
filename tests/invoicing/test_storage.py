"""The embedded default's local storage (invoicing/storage.py): a save is whole
or absent, and on disk before it returns. Real files in a temporary folder."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from invoicing.storage import LocalFiles


def _parts(root) -> list[str]:
    return [str(p) for p in root.rglob("*.part")]


def test_the_shipped_default_is_this_storage():
    assert isinstance(storages["default"], LocalFiles)


def test_a_save_makes_its_folders_and_returns_its_name(tmp_path):
    storage = LocalFiles(location=str(tmp_path), allow_overwrite=True)
    name = storage.save("invoices/org/inv/abc.pdf", ContentFile(b"%PDF-1.4 one"))
    assert name == "invoices/org/inv/abc.pdf"
    assert (tmp_path / name).read_bytes() == b"%PDF-1.4 one"
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644  # FILE_UPLOAD_PERMISSIONS
    assert _parts(tmp_path) == []


def test_a_reader_of_the_old_file_reads_it_whole_while_it_is_replaced(tmp_path):
    # A re-render writes the same key while a download may be streaming it.
    # Truncated in place (Django's allow_overwrite), the reader got 0 bytes.
    storage = LocalFiles(location=str(tmp_path), allow_overwrite=True)
    old, new = b"A" * 200_000, b"B" * 150_000
    storage.save("k.pdf", ContentFile(old))
    with storage.open("k.pdf", "rb") as reader:
        assert reader.read(10) == b"A" * 10
        storage.save("k.pdf", ContentFile(new))
        assert reader.read() == old[10:]
    with storage.open("k.pdf", "rb") as later:
        assert later.read() == new


class _Breaks(ContentFile):
    """Content whose second chunk never comes (a full disk, a killed worker)."""

    def chunks(self, chunk_size=None):
        yield b"C" * 1000
        raise OSError(28, "No space left on device")


def test_a_save_that_fails_midway_leaves_the_previous_file_and_no_debris(tmp_path):
    storage = LocalFiles(location=str(tmp_path), allow_overwrite=True)
    storage.save("a/k.pdf", ContentFile(b"whole"))
    with pytest.raises(OSError, match="No space left"):
        storage.save("a/k.pdf", _Breaks(b""))
    assert (tmp_path / "a" / "k.pdf").read_bytes() == b"whole"
    assert _parts(tmp_path) == []


@pytest.fixture
def flushes(monkeypatch) -> list[tuple[str, str]]:
    """What reaches the disk, in order: ("fsync", path) and ("replace", target)."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_the_bytes_and_then_the_rename_are_flushed_to_disk_before_the_save_returns(
    tmp_path, flushes
):
    storage = LocalFiles(location=str(tmp_path), allow_overwrite=True)
    (tmp_path / "inv").mkdir()
    storage.save("inv/k.pdf", ContentFile(b"%PDF"))
    assert [kind for kind, _ in flushes] == ["fsync", "replace", "fsync"]
    assert flushes[0][1].startswith(str(tmp_path / "inv" / ".k.pdf."))  # the temporary file
    assert flushes[1][1] == str(tmp_path / "inv" / "k.pdf")
    assert flushes[2][1] == str(tmp_path / "inv")  # the directory holding the new name


def test_the_folders_a_save_makes_are_flushed_into_their_parents(tmp_path, flushes):
    # A new folder's name lives in its parent: flushing only the folder (and
    # the file in it) leaves the name in memory, and a crash loses both.
    storage = LocalFiles(location=str(tmp_path), allow_overwrite=True)
    (tmp_path / "invoices").mkdir()
    storage.save("invoices/org/inv/k.pdf", ContentFile(b"%PDF"))
    assert [path for kind, path in flushes if kind == "fsync"][1:] == [
        str(tmp_path / "invoices" / "org" / "inv"),  # holds k.pdf
        str(tmp_path / "invoices" / "org"),  # holds inv, made by this save
        str(tmp_path / "invoices"),  # holds org, made by this save
    ]
    flushes.clear()
    storage.save("invoices/org/inv/other.pdf", ContentFile(b"%PDF"))
    assert [path for kind, path in flushes if kind == "fsync"][1:] == [
        str(tmp_path / "invoices" / "org" / "inv")
    ]


def test_without_overwrite_an_existing_name_is_kept_and_another_is_given(tmp_path):
    storage = LocalFiles(location=str(tmp_path))
    first = storage.save("logos/logo.png", ContentFile(b"one"))
    second = storage.save("logos/logo.png", ContentFile(b"two"))
    assert first == "logos/logo.png"
    assert second != first and second.startswith("logos/logo_")
    assert (tmp_path / first).read_bytes() == b"one"
    assert (tmp_path / second).read_bytes() == b"two"
    assert _parts(tmp_path) == []


def test_folder_and_file_modes_are_applied_when_set(tmp_path):
    storage = LocalFiles(
        location=str(tmp_path), allow_overwrite=True,
        file_permissions_mode=0o600, directory_permissions_mode=0o750,
    )  # fmt: skip
    storage.save("x/y/z.pdf", ContentFile(b"1"))
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "x" / "y").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "x" / "y" / "z.pdf").stat().st_mode) == 0o600
