"""Bearer-token checks as FastAPI dependencies: reads need a read or write token, changes a write token."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ndtwin.service.problems import ApiError
from ndtwin.service.tokens import TokenStore

_bearer = HTTPBearer(auto_error=False, description="A token from `ndtwin serve token create`.")


def _role(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    service = request.app.state.service
    if not service.config.auth:
        return "write"
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "a bearer token is required (Authorization: Bearer TOKEN)", "Authorization")
    role = TokenStore(service.config.state).role_of(credentials.credentials)
    if role is None:
        raise ApiError(401, "unknown token", "Authorization")
    return role


def require_read(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    """A read or write token (or auth off)."""
    return _role(request, credentials)


def require_write(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    """A write token (or auth off); 403 for a read token."""
    role = _role(request, credentials)
    if role != "write":
        raise ApiError(403, "this request changes state: it needs a write token", "Authorization")
    return role
