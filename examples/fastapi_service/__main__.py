"""Serve the library under uvicorn: `python -m examples.fastapi_service [--port 8000]`.

The same as `uvicorn --factory examples.fastapi_service.app:create_app`, with the
service's own loggers (its notices) shown, and a bounded graceful shutdown.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence

import uvicorn
import uvicorn.config


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m examples.fastapi_service", description="Serve the library over HTTP."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes serving requests")
    args = parser.parse_args(argv)
    logging = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging["loggers"]["examples.fastapi_service"] = {"handlers": ["default"], "level": "INFO"}
    uvicorn.run(
        "examples.fastapi_service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=logging,
        # On SIGTERM: stop accepting, let requests in progress finish (a GET waits for the
        # read model at most LIBRARY_READ_TIMEOUT), then run the lifespan's shutdown.
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
