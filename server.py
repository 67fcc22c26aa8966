"""Serve the QA API: parse arguments, build the config, serve with waitress (Flask's server with --debug)."""

import argparse
import logging

from qa.config import Config
from qa.web import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, env QA_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8000, env QA_PORT)")
    parser.add_argument("--debug", action="store_true", help="use Flask's development server")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env(host=args.host, port=args.port)
    app = create_app(config)
    logging.getLogger("qa").info("serving on http://%s:%d", config.host, config.port)
    if args.debug:
        app.run(host=config.host, port=config.port, debug=True, use_reloader=False)
    else:
        from waitress import serve

        serve(app, host=config.host, port=config.port, threads=config.threads)


if __name__ == "__main__":
    main()
