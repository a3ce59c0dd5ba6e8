"""``python -m api`` (``make api``): serve the prediction service with uvicorn, on PIPELINE_API_HOST and
PIPELINE_API_PORT (default 127.0.0.1:8000), with PIPELINE_API_WORKERS processes."""

from __future__ import annotations

import os
import sys


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
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"prediction service on http://{settings.api_host}:{settings.api_port} (docs at /docs), store {store}",
          file=sys.stderr)
    uvicorn.run("api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port,
                workers=settings.api_workers, log_level="warning", **uvicorn_options())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
