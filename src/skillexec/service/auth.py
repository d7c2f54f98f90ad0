"""Who is asking, and may they: API keys (``X-API-Key`` or ``Authorization: Bearer``),
roles per route, rate limits per key.

Keys, principals and roles are the engine's (:mod:`skillexec.security.principals`,
``engine.keys``); this module only reads the request's credentials, asks the engine who they
belong to, and answers 401 (no or bad key), 403 (the role may not) or 429 (too fast: the
key's requests, or the client address's failed key checks). Both credential schemes are
declared on every keyed operation, so the OpenAPI document shows them.

A key not in the cache is looked up within its client address's failed key checks
(:mod:`~skillexec.service.auth_failures`); a key in it costs neither a lookup nor a check.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Request

from skillexec.errors import ErrorType
from skillexec.security.audit import CLIENT
from skillexec.security.principals import LOCAL, Principal
from skillexec.service.auth_failures import within_failures
from skillexec.service.envelope import ApiError

if TYPE_CHECKING:
    from skillexec.service.state import ServiceState

__all__ = ["WS_PROTOCOL", "authenticate", "caller", "caller_of", "client_of", "declare_security",
           "key_of_ws", "need", "principal_of", "principal_of_ws", "unauthenticated"]

_MAX_KNOWN = 10_000  # principals remembered at most (auth_cache_s)
_CHALLENGE = {"WWW-Authenticate": 'APIKey header="X-API-Key", Bearer'}


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message, headers=_CHALLENGE,
                    error_type=ErrorType.PERMISSION)


def client_of(scope: Mapping[str, Any]) -> str:
    """The address a request came from ("" when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


async def authenticate(state: ServiceState, raw: str | None, client: str = "") -> Principal:
    """The principal a raw key belongs to; 401 when none or not a valid key, 429 when
    ``client`` (the request's address) has failed too often to be looked up."""
    if state.insecure:
        return LOCAL
    if not raw:
        raise unauthenticated("an API key is required (X-API-Key header or Authorization: "
                              "Bearer)")
    ttl = state.settings.auth_cache_s
    # The cache keeps a digest, never the key. BLAKE2s, not SHA-256: hashlib's SHA-256
    # looks its algorithm up in OpenSSL on every call, twice the cost of the hash itself
    # (this runs once per request).
    digest = hashlib.blake2s(raw.encode("utf-8", "surrogatepass")).digest()
    if ttl > 0 and (hit := state.known_keys.get(digest)) is not None:
        if hit[1] > time.monotonic():
            return hit[0]
        del state.known_keys[digest]
    where = CLIENT.set(client or None)  # for the audit record of a failure
    try:
        if ttl > 0:
            generation = state.keys_generation
            principal = await _look_up(state, digest, raw, client)
        else:  # "the journal is asked every request": its own lookup, none shared
            generation = -1
            principal = await _checked(state, raw, client)
    finally:
        CLIENT.reset(where)
    if principal is None:
        raise unauthenticated("the API key is not valid (unknown, revoked or expired)")
    if generation == state.keys_generation:  # no revocation here since the lookup began
        if len(state.known_keys) >= _MAX_KNOWN:
            state.known_keys.clear()
        state.known_keys[digest] = (principal, time.monotonic() + ttl)
    return principal


async def _look_up(state: ServiceState, digest: bytes, raw: str,
                   client: str) -> Principal | None:
    """The journal's answer for a key, one lookup for the requests that ask at once: when
    a busy key's cached principal expires, its concurrent requests share one lookup (one
    thread hop) instead of each making its own. A key found invalid is looked up again by
    each of them (each within its address's failures), so each refusal leaves its own
    ``auth.failed`` audit record, as before."""
    shared = state.key_lookups.get(digest)
    if shared is not None:
        principal = await asyncio.shield(shared)
        return principal if principal is not None else await _checked(state, raw, client)

    async def lead() -> Principal | None:
        shared = asyncio.ensure_future(state.engine.keys.authenticate(raw))
        state.key_lookups[digest] = shared

        def done(fut: asyncio.Future[Principal | None]) -> None:
            if state.key_lookups.get(digest) is fut:  # not a newer one, after a revocation
                del state.key_lookups[digest]

        shared.add_done_callback(done)
        return await asyncio.shield(shared)

    return await within_failures(state, raw, client, lead)


async def _checked(state: ServiceState, raw: str, client: str) -> Principal | None:
    """The engine's own lookup of a key, within the address's failures."""
    return await within_failures(state, raw, client,
                                 lambda: state.engine.keys.authenticate(raw))


def _limit(state: ServiceState, principal: Principal) -> None:
    wait = state.limiter.take(principal.key_id or principal.id)
    if wait > 0.0:
        raise ApiError(429, "RATE_LIMITED", f"too many requests for this key: try again in "
                       f"{wait:.2f} s", headers={"Retry-After": state.limiter.retry_after(wait)},
                       error_type=ErrorType.RESOURCE, retryable=True)


def _raw_key(headers: Any) -> str | None:
    raw = headers.get("x-api-key")
    if raw:
        return str(raw)
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def caller(request: Request) -> Principal:
    """The request's principal (authenticated, within its rate). Reads the two headers
    itself rather than through FastAPI's security dependencies (two sub-dependencies to
    solve on every request cost more than the lookup): the schemes are declared on each
    operation by :func:`declare_security`."""
    state: ServiceState = request.app.state.service
    principal = await authenticate(state, _raw_key(request.headers), client_of(request.scope))
    _limit(state, principal)
    request.state.principal = principal
    return principal


def need(action: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must be allowed ``action`` (403 otherwise)."""

    async def allowed(request: Request) -> Principal:
        principal = await caller(request)
        _may(principal, action)
        return principal

    allowed.__name__ = f"need_{action}"
    return allowed


def _may(principal: Principal, action: str) -> None:
    if not principal.can(action):
        raise ApiError(403, "PERMISSION_DENIED", f"role {principal.role.value!r} may not "
                       f"do this ({action})", error_type=ErrorType.PERMISSION)


async def principal_of(state: ServiceState, headers: Mapping[str, str],
                       client: str) -> Principal:
    """The request's principal, within its rate, for a handler outside FastAPI's
    dependencies (``headers``: the request's, lower-case names; ``client``: its address):
    /mcp's requests spend the key's bucket as /api's do."""
    principal = await authenticate(state, _raw_key(headers), client)
    _limit(state, principal)
    return principal


async def caller_of(state: ServiceState, headers: Mapping[str, str], *, action: str,
                    client: str) -> Principal:
    """What ``need(action)`` does, for a handler outside FastAPI's dependencies
    (``headers``: the request's, lower-case names; ``client``: its address)."""
    principal = await principal_of(state, headers, client)
    _may(principal, action)
    return principal


def declare_security(schema: dict[str, Any], *, keyed: Callable[[str], bool]) -> None:
    """Both key schemes in the OpenAPI document, required by every operation whose path
    ``keyed`` says needs a key."""
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "An API key made by `skillexec keys create`."},
        "Bearer": {"type": "http", "scheme": "bearer",
                   "description": "The same API key as a bearer token."}}
    for path, operations in schema.get("paths", {}).items():
        if keyed(path):
            for operation in operations.values():
                operation["security"] = [{"ApiKey": []}, {"Bearer": []}]


WS_PROTOCOL = "skillexec"  # the subprotocol a WebSocket is answered with
_WS_KEY = WS_PROTOCOL + ".key."  # a subprotocol holding the key (offered, never answered)


def key_of_ws(headers: Any, query: Any, subprotocols: list[str]) -> str | None:
    """A WebSocket's key: the same headers, else a ``skillexec.key.<key>`` subprotocol (a
    browser cannot set headers on a WebSocket, but may offer subprotocols, which no access
    log shows), else ``?api_key=`` (which puts the key in the URL: kept for the clients
    that use it; the service's own logs redact it)."""
    if raw := _raw_key(headers):
        return raw
    for offered in subprotocols:
        if offered.startswith(_WS_KEY):
            return offered[len(_WS_KEY):]
    key: str | None = query.get("api_key")
    return key


async def principal_of_ws(state: ServiceState, raw: str | None, client: str) -> Principal:
    """A WebSocket's principal at its handshake (its key of :func:`key_of_ws`), within the
    key's rate."""
    principal = await authenticate(state, raw, client)
    _limit(state, principal)
    return principal
