import pytest
from django.contrib.auth import get_user_model
from django.test import Client


@pytest.fixture
def staff_user(db):
    # No password: force_login needs none, and hashing one costs ~0.5 s.
    return get_user_model().objects.create_user(
        "operator", "operator@example.com", None, is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def plain_client(db):
    """Logged in, but not staff: the admin must refuse it."""
    user = get_user_model().objects.create_user("customer", "c@example.com", None)
    client = Client()
    client.force_login(user)
    return client
