"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), from
files installed with the package (``fastapi-offline`` ships Swagger UI and ReDoc):
they work offline, and run no script from anywhere but this server."""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDORED = Path(fastapi_offline.__file__).parent / "static"
OURS = Path(__file__).parent / "docs_static"
ASSETS = "/docs-assets"

router = APIRouter(include_in_schema=False)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<link rel="icon" href="{ASSETS}/favicon.png">{head}</head><body>{body}</body></html>'
    )


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _page(
        "IMDB sentiment service: API",
        f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">',
        f'<div id="swagger-ui"></div><script src="{ASSETS}/swagger-ui-bundle.js"></script>'
        f'<script src="{ASSETS}/init/swagger-init.js"></script>',
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _page(
        "IMDB sentiment service: API reference",
        "",
        f'<redoc spec-url="/openapi.json"></redoc><script src="{ASSETS}/redoc.standalone.js">'
        "</script>",
    )


def mount_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(f"{ASSETS}/init", StaticFiles(directory=OURS), name="docs-init")
    app.mount(ASSETS, StaticFiles(directory=VENDORED), name="docs-assets")
