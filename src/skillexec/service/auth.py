"""Who is asking, and may they: API keys (``X-API-Key`` or ``Authorization: Bearer``),
roles per route, rate limits per key.

Keys, principals and roles are the engine's (:mod:`skillexec.security.principals`,
``engine.keys``); this module only reads the request's credentials, asks the engine who they
belong to, and answers 401 (no or bad key), 403 (the role may not) or 429 (too fast). Both
credential schemes are declared on every operation, so the OpenAPI document shows them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from skillexec.errors import ErrorType
from skillexec.security.principals import LOCAL, Principal
from skillexec.service.envelope import ApiError

if TYPE_CHECKING:
    from skillexec.service.state import ServiceState

__all__ = ["api_key", "bearer", "caller", "need", "principal_of_ws", "unauthenticated"]

api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                       description="An API key made by `skillexec keys create`.")
bearer = HTTPBearer(auto_error=False, scheme_name="Bearer",
                    description="The same API key as a bearer token.")

_MAX_KNOWN = 10_000  # principals remembered at most (auth_cache_s)
_CHALLENGE = {"WWW-Authenticate": 'APIKey header="X-API-Key", Bearer'}


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message, headers=_CHALLENGE,
                    error_type=ErrorType.PERMISSION)


async def authenticate(state: ServiceState, raw: str | None) -> Principal:
    """The principal a raw key belongs to; 401 when none or not a valid key."""
    if state.insecure:
        return LOCAL
    if not raw:
        raise unauthenticated("an API key is required (X-API-Key header or Authorization: "
                              "Bearer)")
    ttl = state.settings.auth_cache_s
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()
    if ttl > 0 and (hit := state.known_keys.get(digest)) is not None:
        if hit[1] > time.monotonic():
            return hit[0]
        del state.known_keys[digest]
    principal = await state.engine.keys.authenticate(raw)
    if principal is None:
        raise unauthenticated("the API key is not valid (unknown, revoked or expired)")
    if ttl > 0:
        if len(state.known_keys) >= _MAX_KNOWN:
            state.known_keys.clear()
        state.known_keys[digest] = (principal, time.monotonic() + ttl)
    return principal


def _limit(state: ServiceState, principal: Principal) -> None:
    wait = state.limiter.take(principal.key_id or principal.id)
    if wait > 0.0:
        raise ApiError(429, "RATE_LIMITED", f"too many requests for this key: try again in "
                       f"{wait:.2f} s", headers={"Retry-After": state.limiter.retry_after(wait)},
                       error_type=ErrorType.RESOURCE, retryable=True)


async def caller(request: Request, key: str | None = Security(api_key),
                 token: HTTPAuthorizationCredentials | None = Security(bearer)) -> Principal:
    """The request's principal (authenticated, within its rate)."""
    state: ServiceState = request.app.state.service
    principal = await authenticate(state, key or (token.credentials if token else None))
    _limit(state, principal)
    request.state.principal = principal
    return principal


def need(action: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must be allowed ``action`` (403 otherwise)."""

    async def allowed(request: Request, key: str | None = Security(api_key),
                      token: HTTPAuthorizationCredentials | None = Security(bearer),
                      ) -> Principal:
        principal = await caller(request, key, token)
        if not principal.can(action):
            raise ApiError(403, "PERMISSION_DENIED", f"role {principal.role.value!r} may not "
                           f"do this ({action})", error_type=ErrorType.PERMISSION)
        return principal

    allowed.__name__ = f"need_{action}"
    return allowed


async def principal_of_ws(state: ServiceState, headers: Any, query: Any) -> Principal:
    """A WebSocket's principal: the same headers, or ``?api_key=`` (browsers cannot set
    headers on a WebSocket)."""
    raw = headers.get("x-api-key")
    if not raw:
        auth = headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        raw = value.strip() if scheme.lower() == "bearer" else None
    principal = await authenticate(state, raw or query.get("api_key"))
    _limit(state, principal)
    return principal
