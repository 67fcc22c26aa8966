"""Serve the QA API: parse arguments, build the config, serve with waitress (Flask's server with --debug)."""

import argparse
import logging
import sys

from qa.config import Config
from qa.errors import QAError
from qa.web import create_app

log = logging.getLogger("qa.server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, env QA_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8000, env QA_PORT)")
    parser.add_argument("--debug", action="store_true", help="use Flask's development server")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # sentence-transformers shows a progress bar for every encode (each question) when its logger is at INFO.
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    try:
        config = Config.from_env(host=args.host, port=args.port)
    except ValueError as error:
        log.error("cannot start: a QA_* environment variable is not valid: %s", error)
        return 2
    try:
        app = create_app(config)  # loads the model and the index; builds the index when missing or stale
    except QAError as error:
        log.error("cannot start: %s", error.message)
        return 2
    log.info("serving on http://%s:%d", config.host, config.port)
    try:
        run(app, config, args.debug)
    except OSError as error:  # e.g. the port is taken
        log.error("cannot serve on %s:%d: %s", config.host, config.port, error)
        return 2
    return 0


def run(app, config: Config, debug: bool) -> None:
    if debug:
        app.run(host=config.host, port=config.port, debug=True, use_reloader=False)
    else:
        serve(app, config)


def serve(app, config: Config) -> None:
    """waitress buffers a whole body before the app sees it: cap it (well above the app's own 413 limits,
    so that the app's JSON 413 answers the bodies just over them: JSON bodies, and pages when admin is on)."""
    from waitress import serve as waitress_serve

    largest = max(config.max_body_bytes, config.max_page_bytes if config.admin_key else 0)
    waitress_serve(app, host=config.host, port=config.port, threads=config.threads,
                   max_request_body_size=4 * largest, channel_timeout=config.request_timeout)


if __name__ == "__main__":
    sys.exit(main())
