"""The optional bearer token: everything but /healthz wants `Authorization: Bearer <token>`
when the `api_token` setting is set."""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["OPEN_PATHS", "OPEN_PREFIXES", "BearerAuth", "document_auth"]

OPEN_PATHS = frozenset({"/healthz"})
#: a WebSub hub calls these without the token (each is a secret URL, its pushes signed)
OPEN_PREFIXES = ("/websub/",)


def authorized(header: bytes, token: str) -> bool:
    scheme, _, credentials = header.decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode("latin-1"), token.encode("utf-8")
    )


class BearerAuth:
    """ASGI middleware: a 401 for a request without the token, before any route runs (the
    OpenAPI document and /docs included)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        if authorized(header, self.token):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "missing or wrong bearer token"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="ingest"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def document_auth(app: FastAPI) -> None:
    """Say in the OpenAPI document that every operation but /healthz takes the token and
    may answer 401."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
        }
        unauthorized = {
            "description": "Missing or wrong bearer token",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for path, operations in schema.get("paths", {}).items():
            if path in OPEN_PATHS:
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
                operation.setdefault("responses", {})["401"] = unauthorized
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
