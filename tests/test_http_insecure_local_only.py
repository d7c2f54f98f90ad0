"""A server that asks no key (``--insecure-no-auth``) answered every Host: a web page whose
name rebinds to 127.0.0.1 (DNS rebinding) was same-origin with it, ran skills as admin and
made an admin key that outlived the insecure session. Now it answers only requests
addressed to localhost or an IP address (or a name the operator allows), refuses a
WebSocket opened by a page of another origin, and makes no keys at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import websockets

from tests._http import running

REBOUND = {"Host": "attacker.example:8000"}


def test_a_rebound_host_is_refused_on_every_route(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True) as srv, srv.client() as c:
        for method, path, body in [("POST", "/api/keys", {"name": "rebound", "role": "admin"}),
                                   ("POST", "/api/skills/echo/execute", {}),  # express lane
                                   ("POST", "/api/skills/echo/execute", {"cache": "x"}),
                                   ("GET", "/api/executions", None),
                                   ("GET", "/", None)]:
            r = c.request(method, path, json=body, headers=REBOUND)
            assert r.status_code == 421, (path, r.text)
            assert r.json()["error"]["message"] == (
                "a request for host 'attacker.example:8000' is refused while authentication "
                "is off (--insecure-no-auth): call the service at localhost or an IP "
                "address, or add the name to service.allowed_hosts")
        assert srv.call(srv.engine.keys.list()) == []
        assert srv.call(srv.engine.tasks()) == []  # the express lane ran nothing either
        port = srv.base_url.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}",
                     f"app.localhost:{port}", "192.0.2.7"):
            r = c.post("/api/skills/echo/execute", json={}, headers={"Host": host})
            assert r.status_code == 200, (host, r.text)


def test_no_key_is_made_while_authentication_is_off(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True) as srv, srv.client() as c:
        r = c.post("/api/keys", json={"name": "made", "role": "admin"})
        assert r.status_code == 403, r.text
        assert "skillexec keys create" in r.json()["error"]["message"]
        assert srv.call(srv.engine.keys.list()) == []


def test_allowed_hosts_names_more_and_keys_still_guard_a_keyed_server(
        tmp_path: Path) -> None:
    with running(tmp_path / "open", insecure=True,
                 service={"allowed_hosts": ["Dev.Example"]}) as srv, srv.client() as c:
        assert c.get("/api/whoami", headers={"Host": "dev.example:8000"}).status_code == 200
        assert c.get("/api/whoami", headers=REBOUND).status_code == 421
    with running(tmp_path / "keyed") as srv, srv.client(srv.key("viewer")) as c:
        # A rebinding page cannot send the key: a keyed server answers any Host.
        assert c.get("/api/whoami", headers=REBOUND).status_code == 200


def test_a_websocket_from_a_page_of_another_origin_is_refused(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True) as srv:
        url = srv.base_url.replace("http", "ws") + "/api/skills/ws"

        async def ping(origin: str | None) -> str:
            kw = {} if origin is None else {"origin": origin}
            async with websockets.connect(url, **kw) as ws:  # type: ignore[arg-type]
                await ws.send('{"type": "ping"}')
                return str(await ws.recv())

        assert '"pong"' in asyncio.run(ping(None))
        assert '"pong"' in asyncio.run(ping(srv.base_url))  # the dashboard's own page
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(ping("http://attacker.example"))
        assert refused.value.response.status_code == 403
