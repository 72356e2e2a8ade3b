"""The embedded broker (billing_project/broker.py) never hands a consumer a
message that is still being written: a publisher process and a consumer polling
as fast as it can, every message arrives whole, once. (Kombu's own filesystem
transport lost about 3 % of them this way: the consumer took the file before the
publisher had written it.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from kombu import Connection

ROOT = Path(__file__).resolve().parents[2]
COUNT = 1500


def test_every_message_arrives_whole_while_a_consumer_polls(tmp_path):
    queue_dir = tmp_path / "queue"
    queue_dir.mkdir()
    options = {"data_folder_in": str(queue_dir), "data_folder_out": str(queue_dir),
               "control_folder": str(tmp_path / "control"), "polling_interval": 0}  # fmt: skip
    publisher = textwrap.dedent(f"""
        from kombu import Connection
        options = {options!r}
        with Connection("filesystem://localhost/",
                        transport="billing_project.broker:FilesystemTransport",
                        transport_options=options) as connection:
            queue = connection.SimpleQueue("pdf")
            for index in range({COUNT}):
                queue.put({{"index": index, "padding": "x" * 2000}})
    """)
    seen: list[int] = []
    with Connection("filesystem://localhost/",
                    transport="billing_project.broker:FilesystemTransport",
                    transport_options=options) as connection:  # fmt: skip
        queue = connection.SimpleQueue("pdf")
        proc = subprocess.Popen([sys.executable, "-c", publisher], cwd=ROOT)
        deadline = time.monotonic() + 120
        while len(seen) < COUNT and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None and not list(queue_dir.glob("*.msg")):
                    break
                continue
            assert message.payload["padding"] == "x" * 2000
            seen.append(message.payload["index"])
            message.ack()
        assert proc.wait(timeout=60) == 0
    assert sorted(seen) == list(range(COUNT))
    assert not list(queue_dir.iterdir())  # no partial file left behind
