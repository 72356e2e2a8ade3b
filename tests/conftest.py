import pytest
from rest_framework.test import APIClient

from tests.factories import make_organization


@pytest.fixture
def org_and_key(db):
    return make_organization()


@pytest.fixture
def organization(org_and_key):
    return org_and_key[0]


@pytest.fixture
def api(org_and_key):
    """A DRF test client authenticated as ``organization``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {org_and_key[1]}")
    return client
