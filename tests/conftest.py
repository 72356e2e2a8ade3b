import pytest
from rest_framework.test import APIClient

from tests import progress
from tests.factories import make_organization
from tests.processes import STARTED


def pytest_configure(config):
    # Long tests (tests/system) say what they are doing as they go (tests/progress.py).
    progress.attach(config)


@pytest.fixture(autouse=True, scope="session")
def _stop_leftover_workers():
    yield
    for worker in STARTED:
        worker.stop()


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
