"""Session fixtures: the real model, one test index built once, an app, a client and a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from qa.config import ROOT, Config

SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def config(tmp_path_factory) -> Config:
    """Seeds of the repo, a fresh index folder for this session, the shared model/embedding cache."""
    return Config.from_env(index_dir=tmp_path_factory.mktemp("index") / "index", seeds_dir=SEEDS)


@pytest.fixture(scope="session")
def service(config):
    from qa.service import QAService

    return QAService(config, progress=False)


@pytest.fixture(scope="session")
def app(config, service):
    from qa.web import create_app

    return create_app(config, service)


@pytest.fixture()
def client(app):
    return app.test_client()


def _free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(port: int) -> list[str]:
    """`server.py` on 127.0.0.1 whatever QA_HOST says."""
    return [sys.executable, str(ROOT / "server.py"), "--host", "127.0.0.1", "--port", str(port)]


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
    port = _free_local_port()
    env = os.environ | {"QA_INDEX_DIR": str(config.index_dir), "QA_SEEDS_DIR": str(config.seeds_dir),
                        "HF_HUB_OFFLINE": "1"}
    log_path = config.index_dir.parent / "server.log"
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
