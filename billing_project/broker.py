"""The embedded broker: Kombu's filesystem transport, with publishing made atomic.

Kombu's own ``_put`` creates the message file under its final name and then writes
it, while a consumer takes any file with that name at once (it moves the file away
without waiting for the writer's lock). A worker polling at that instant reads an
empty or partial message: the message is lost and the job waits for the sweep
(``PDF_REQUEUE_AFTER_SECONDS``). Here the message is written under a name no
consumer takes, then renamed into place: a rename is atomic within the folder, so a
consumer sees the whole message or nothing.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name Kombu gives it ("<ms>_<uuid>.<queue>.msg"): consumers take the
        # oldest first, and the operations page counts queue depths by it.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{uuid.uuid4()}.partial")
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
