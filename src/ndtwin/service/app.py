"""The FastAPI application: API routes, error answers, metrics, body limit, offline docs and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ndtwin.service import routes_analysis, routes_jobs, routes_ops, routes_scenarios
from ndtwin.service.body_limit import BodyLimit
from ndtwin.service.config import ServiceConfig
from ndtwin.service.problems import install_handlers
from ndtwin.service.service import Service

STATIC = Path(str(resources.files("ndtwin.service") / "static"))


def plotly_js() -> Path:
    """plotly.js as bundled by the ``plotly`` Python package (no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(config: ServiceConfig) -> FastAPI:
    """The service on ``config``'s state folder (opened now: interrupted jobs are marked failed here)."""
    service = Service.start(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.jobs.shutdown()

    app = FastAPIOffline(
        title="ndtwin",
        summary="A network digital twin: per-flow delay, jitter and loss, what-ifs and optimization.",
        version="0.1.0",
        lifespan=lifespan,
        static_url="/docs-assets",
    )
    app.state.service = service
    install_handlers(app)
    app.middleware("http")(service.metrics.middleware)
    for module in (routes_ops, routes_scenarios, routes_analysis, routes_jobs):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app
