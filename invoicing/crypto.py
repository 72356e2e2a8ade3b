"""Secrets encrypted at rest: webhook signing keys, HMAC keys, ``whsec_`` secrets.

A database dump or a read replica then holds no key that signs webhooks.
Values are Fernet tokens (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package) under ``SECRET_ENCRYPTION_KEYS``: the first key
encrypts, every key decrypts, so keys rotate by putting a new one first and
running ``manage.py rotate_secret_encryption``. Without that setting one key
is derived from ``SECRET_KEY`` (the demo needs nothing set), so changing
``SECRET_KEY`` then needs the old one listed first (see README).
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

# Stored values start with this: a value without it is one written before
# encryption (the migration encrypts them all), read as it is.
PREFIX = "fernet:"


def derived_key(secret_key: str) -> str:
    """A Fernet key from SECRET_KEY (a separate purpose string, so it is not
    SECRET_KEY's other uses' key)."""
    digest = hashlib.sha256(b"invoicing secrets at rest|" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@functools.lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _keys() -> tuple[str, ...]:
    return tuple(settings.SECRET_ENCRYPTION_KEYS) or (derived_key(settings.SECRET_KEY),)


def encrypt(value: str) -> str:
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + _fernet(_keys()).encrypt(value.encode()).decode()


@functools.lru_cache(maxsize=1024)
def _decrypted(keys: tuple[str, ...], token: str) -> str:
    # A token always decrypts to the same text under the same keys; the
    # webhook worker reads the organization's HMAC key with every delivery it
    # claims, and Fernet's check and AES cost ~16 us each time. The texts
    # kept are the secrets this process signs with anyway.
    return _fernet(keys).decrypt(token.encode()).decode()


def decrypt(value: str) -> str:
    if not value or not value.startswith(PREFIX):
        return value
    try:
        return _decrypted(_keys(), value[len(PREFIX) :])
    except InvalidToken:
        raise ValueError(
            "a stored secret does not decrypt with SECRET_ENCRYPTION_KEYS (or SECRET_KEY): "
            "list the key it was written with"
        ) from None


def rotate(value: str) -> str:
    """Re-encrypt under the first key (MultiFernet.rotate)."""
    if not value or not value.startswith(PREFIX):
        return encrypt(value)
    token = _fernet(_keys()).rotate(value[len(PREFIX) :].encode())
    return PREFIX + token.decode()


class EncryptedTextField(models.TextField):
    """Plain text in Python, a Fernet token in the database. Not for fields
    that are filtered on: equal plaintexts encrypt to different tokens."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value is not None else value
