"""A real S3 endpoint on this machine for the tests and the fault soak: moto's server.

Its buckets live in this process (moto's backends), so they outlive a ``stop``: the endpoint
can go away and come back on the same port, as an object store does in a network blip.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Endpoint:
    """moto's S3 server on a fixed port, which can be stopped and started again."""

    port: int = field(default_factory=free_port)
    server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()  # free the port for the next start
            self.server = None

    @property
    def env(self) -> dict[str, str]:
        """The variables that point boto3 and pyarrow's S3 filesystem at this endpoint."""
        return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
                "AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake",
                "AWS_DEFAULT_REGION": "us-east-1"}
