import pytest

from tests.processes import Worker, flush_broker


@pytest.fixture
def worker(transactional_db):
    """One real Celery worker (2 processes) on the test database and Redis."""
    flush_broker()
    w = Worker("pipeline", concurrency=2).start()
    yield w
    w.stop()
