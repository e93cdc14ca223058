"""Offline API docs: ``/docs`` (Swagger UI) and ``/redoc`` served from local files, not a CDN.

A classroom often has no internet, and FastAPI's default pages load their JavaScript and CSS from a CDN.
``serve_docs_offline(app)`` replaces the app's two doc pages by the same pages (FastAPI's own
``get_swagger_ui_html`` / ``get_redoc_html``) pointing at the copies of the assets that ship inside the
``fastapi-offline`` package, mounted at ``ASSETS_URL``. Every solution app calls it.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# The pages may load only what this app serves: ReDoc's bundle would otherwise fetch its logo from a CDN.
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:"
)
ASSETS_DIR = str(files("fastapi_offline") / "static")


def serve_docs_offline(app: FastAPI) -> FastAPI:
    """Serve ``app.docs_url`` and ``app.redoc_url`` with local assets; returns the app."""
    docs_url, redoc_url = app.docs_url, app.redoc_url
    replaced = {docs_url, redoc_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in replaced]
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    if docs_url:

        @app.get(docs_url, include_in_schema=False)
        async def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            page = get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
            page.headers["Content-Security-Policy"] = DOCS_POLICY
            return page

    if redoc_url:

        @app.get(redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            page = get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
            page.headers["Content-Security-Policy"] = DOCS_POLICY
            return page

    return app
