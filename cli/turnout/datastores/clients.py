"""The copy's own boto3 clients: one connection per worker, and a read timeout long enough for
a server-side copy.

A CopyObject of a large object answers only when the copy is done (up to 5 GB in one call,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html), and a Scan page of a
table under load can take long on a slow endpoint: 300 s instead of the usual 30 s, with the
same adaptive retries as every other turnout client.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from turnout.aws.client_config import CLIENT_CONFIG

COPY_CONFIG = CLIENT_CONFIG.merge(Config(read_timeout=300))


class StoreClients:
    """Clients per (environment, service) for one copy, from the context's AWS access; a
    context without sessions (a test's fake) gives its own clients."""

    def __init__(self, context: Any, workers: int) -> None:
        self.context = context
        self.config = COPY_CONFIG.merge(Config(max_pool_connections=workers + 2))
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, environment: str, service: str) -> Any:
        key = (environment, service)
        if key not in self._clients:
            self._clients[key] = self._make(environment, service)
        return self._clients[key]

    def _make(self, environment: str, service: str) -> Any:
        aws = self.context.aws
        if not hasattr(aws, "session") or not hasattr(aws, "region"):
            return self.context.client(environment, service)
        return aws.session(environment).client(
            service,
            region_name=aws.region(environment),
            endpoint_url=getattr(aws, "endpoint_url", None),
            config=self.config,
        )
