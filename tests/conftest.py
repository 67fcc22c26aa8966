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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(config, service):
    """A real `server.py` process over HTTP on 127.0.0.1, serving the session's (already built) index."""
    port = _free_port()
    env = os.environ | {"QA_INDEX_DIR": str(config.index_dir), "QA_SEEDS_DIR": str(config.seeds_dir),
                        "HF_HUB_OFFLINE": "1"}
    log = open(config.index_dir.parent / "server.log", "w")
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if requests.get(url + "/api/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 120 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
