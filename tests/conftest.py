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


@pytest.fixture(autouse=True)
def _no_wakeup_pending():
    """Each test starts with no wake-up pending (invoicing/dispatch.py): an
    earlier test's message, which no worker took, must not keep this test's
    from being sent."""
    from django.conf import settings

    from invoicing import dispatch

    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete(*(dispatch._wakeup_key(t) for t in dispatch.WAKEUP_TASKS))
        client.close()
    yield


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
