"""The Jupyter server extension: REST over the journal for the lab panel (history, export, verify)."""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(server_app: Any) -> None:
    from jupyter_mlops.server.handlers import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("jupyter_mlops: /mlops/ endpoints registered")
