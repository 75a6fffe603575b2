"""``/docs``: Swagger UI served from the installed ``fastapi-offline`` package, never a CDN.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN and starts it with
an inline script, so it is blank offline and refused by our CSP. Here the
bundle and its stylesheet come from the package's files (mounted under
``/docs/assets``), the page is a template, and the start-up code is a
static file (``/static/docs-init.js``) that reads the OpenAPI URL from the
page, so ``script-src 'self'`` holds.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from equity_connect.web.render import templates

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/docs/assets"


def assets_dir() -> Path:
    """Where the installed package keeps swagger-ui-bundle.js and swagger-ui.css."""
    return Path(str(resources.files("fastapi_offline") / "static"))


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive API reference."""
    app = request.app
    html = templates.get_template("api_docs.html").render(
        title=f"{app.title} API", openapi_url=app.openapi_url, assets=ASSETS_URL
    )
    return HTMLResponse(html)


def install_api_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets (the app is made with ``docs_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    app.include_router(router)
