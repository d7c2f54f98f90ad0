"""GET /api/whoami: the key's own principal, role and the actions its role may take, for any
valid key (the dashboard asks it once, then asks for nothing the role may not read)."""

from __future__ import annotations

from pathlib import Path

from tests._http import running


def test_each_key_is_told_its_role_and_what_it_may_do(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        granted = srv.key("runner", name="ci", skills=["echo", "sl*"])
        with srv.client(granted) as c:
            me = c.get("/api/whoami").json()["data"]
        assert me["principal"] == "ci" and me["role"] == "runner" and me["key_id"]
        assert me["skills"] == ["echo", "sl*"] and me["may"] == ["run", "skills"]
        may = {"admin": ["run", "cancel_any", "read_any", "reports", "skills", "keys", "audit"],
               "operator": ["run", "cancel_any", "read_any", "reports", "skills"],
               "viewer": ["reports", "skills"], "auditor": ["audit"]}
        for role, actions in may.items():
            with srv.client(srv.key(role)) as c:
                me = c.get("/api/whoami").json()["data"]
            assert (me["role"], me["may"], me["skills"]) == (role, actions, None)
        with srv.client() as anon:
            r = anon.get("/api/whoami")
            assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    with running(tmp_path / "open", insecure=True) as srv, srv.client() as c:
        me = c.get("/api/whoami").json()["data"]
        assert (me["principal"], me["role"], me["key_id"]) == ("local", "admin", None)
