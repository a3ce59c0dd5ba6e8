"""``python -m api`` (``make api``): serve the prediction service with uvicorn, on PIPELINE_API_HOST and
PIPELINE_API_PORT (default 127.0.0.1:8000), with PIPELINE_API_WORKERS processes."""

from __future__ import annotations

import os
import sys


def refusal(settings) -> str | None:
    """Why the service would refuse to start (listening beyond this machine without a key or host names, or its
    port taken), in words; None when it can start."""
    import socket

    from api.auth import loopback_address, startup_check
    from infra.storage import get_database
    from tasks.serving.store import active_keys

    try:
        keys = 0 if loopback_address(settings.api_host) else active_keys(get_database(settings))
        startup_check(settings.api_host, keys, settings.api_allowed_hosts)
    except RuntimeError as exc:
        return str(exc)
    with socket.socket(socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.api_host, settings.api_port))
        except OSError as exc:
            return (f"cannot listen on {settings.api_host}:{settings.api_port} ({exc.strerror}): another program "
                    "holds the port, or the address is not this machine's; set PIPELINE_API_PORT / PIPELINE_API_HOST")
    return None


def main() -> int:
    """Check the store first (a clear error line if it is not there), then serve until interrupted."""
    import uvicorn

    from api.protocol import uvicorn_options
    from infra.errors import UserError
    from infra.settings import get_settings
    from infra.storage import describe_store

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    settings = get_settings()
    try:
        store = describe_store(settings)
        refused = refusal(settings)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if refused:  # said before uvicorn starts: one line, not the lifespan's traceback
        print(f"error: {refused}", file=sys.stderr)
        return 1
    print(f"prediction service on http://{settings.api_host}:{settings.api_port} (docs at /docs), store {store}",
          file=sys.stderr)
    uvicorn.run("api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port,
                workers=settings.api_workers, log_level="warning", **uvicorn_options())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
