"""Connecting to Milvus (Milvus Lite in the process, or a server) and reporting its failures as a clear 503."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import grpc
from pymilvus import MilvusClient, MilvusException

from qa.config import MILVUS_SERVER_SCHEMES, Config
from qa.errors import StoreUnavailable

log = logging.getLogger(__name__)


BATCH = 1000  # rows per insert and per batch of a query iterator
# pymilvus pings its connection every 10 s, idle or not. A gRPC server on its default policy (the milvus-lite
# server, and the one Milvus Lite runs behind a `.db` path) allows one ping per 5 minutes, and none while no call
# is open: after three it closes the connection ("too_many_pings"), and the next client may fail to reconnect.
# Pings only during a call, and no more often than that policy allows; a Milvus server allows them too.
KEEPALIVE = {"grpc.keepalive_time_ms": 330_000, "grpc.keepalive_permit_without_calls": False}


class Names:
    """The collection names of a prefix (a full build writes beside them, under the suffix NEXT)."""

    def __init__(self, prefix: str, suffix: str = ""):
        self.chunks, self.articles = f"{prefix}_chunks{suffix}", f"{prefix}_articles{suffix}"
        self.records = f"{prefix}_records{suffix}"

    def __iter__(self):
        return iter((self.chunks, self.articles, self.records))


def rows(client: MilvusClient, collection: str, filter: str, fields: list[str]) -> Iterator[dict]:
    """Every row matching a filter, in batches (Milvus caps one query's rows), read strongly."""
    iterator = client.query_iterator(collection, filter=filter, output_fields=fields, batch_size=BATCH,
                                     consistency_level="Strong")
    try:
        while batch := iterator.next():
            yield from batch
    finally:
        iterator.close()


def connect(config: Config) -> MilvusClient:
    """A client of QA_MILVUS_URI: a `.db` path opens Milvus Lite in this process, `http://…` a server."""
    uri = config.milvus_uri
    with unavailable(f"cannot open Milvus at {shown(uri)}"):
        return MilvusClient(uri if is_remote(uri) else str(Path(uri).resolve()), token=config.milvus_token,
                            grpc_options=KEEPALIVE)


def is_remote(uri: str) -> bool:
    return uri.startswith(MILVUS_SERVER_SCHEMES)


def shown(uri: str) -> str:
    """A URI as logs and error messages show it: without a user or password."""
    parts = urlsplit(uri)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() if (
        is_remote(uri) and parts.hostname) else uri


@contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Milvus errors (a server down, a Milvus Lite file another process holds) as a 503 that says what failed;
    Milvus's own words go to the log, not to the client."""
    try:
        yield
    except (MilvusException, grpc.RpcError) as error:
        log.warning("%s: %s", what, getattr(error, "message", None) or error)
        raise StoreUnavailable(f"{what}: Milvus did not answer or refused (the server log says why)") from error
