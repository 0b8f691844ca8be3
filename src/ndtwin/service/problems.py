"""Error answers: every 4xx body is JSON ``{"error": message, "field": what was wrong or null}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.ops.registry import RegistryError


class ApiError(Exception):
    """A request the service refuses: HTTP ``status``, the ``field`` at fault (or None) and why."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def __reduce__(self) -> tuple:
        """Pickle by constructor arguments, so the error crosses from job workers intact."""
        return (ApiError, (self.status, self.message, self.field))


def problem(status: int, message: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    """The JSON error answer."""
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_handlers(app: FastAPI) -> None:
    """Turn the library's input errors and FastAPI's validation errors into 4xx problems."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return problem(error.status, error.message, error.field, headers)

    @app.exception_handler(ScenarioError)
    async def _scenario(_: Request, error: ScenarioError) -> JSONResponse:
        return problem(422, str(error), error.field)

    @app.exception_handler(DatasetError)
    async def _dataset(_: Request, error: DatasetError) -> JSONResponse:
        return problem(422, error.problem, "file")

    @app.exception_handler(RegistryError)
    async def _registry(_: Request, error: RegistryError) -> JSONResponse:
        return problem(409, error.problem, "version")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        field = _location(tuple(first.get("loc", ())))
        return problem(422, f"{field}: {first.get('msg', 'invalid value')}", field)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), None, getattr(error, "headers", None))
