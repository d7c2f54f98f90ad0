"""API keys (DESIGN §4.5): shown once, kept as SHA-256 only, compared in constant time,
expiry, revocation, two valid keys per name for rotation; through the Python API and the
CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine
from skillexec.errors import ParameterError
from skillexec.security.keys import KeyManager, key_digest
from skillexec.security.principals import Principal, Role
from skillexec.storage.memory import MemoryStore
from tests.conftest import ROOT, arun


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_create_authenticate_and_what_is_kept(tmp_path: Path) -> None:
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            info, raw = await e.keys.create(name="alice", role="runner", skills=["add", "csv.*"])
            assert raw.startswith(f"sk_{info.key_id}_") and len(raw) == 3 + 12 + 1 + 43
            assert info.role is Role.RUNNER and info.skills == frozenset({"add", "csv.*"})
            who = await e.keys.authenticate(raw)
            assert who == Principal("alice", Role.RUNNER, frozenset({"add", "csv.*"}),
                                    info.key_id)
            listed = await e.keys.list()
            assert [k.key_id for k in listed] == [info.key_id]
            assert raw not in repr(listed) and raw not in json.dumps(listed[0].to_dict())
            assert listed[0].used_at is not None  # first use noted
            assert await e.keys.authenticate(raw) == who
            used = [r for r in await e.audit.read() if r["action"] == "key.used_first"]
            assert len(used) == 1 and used[0]["principal"] == "alice"
        # the journal holds the digest, never the key or its secret
        db = (tmp_path / "d" / "journal.db").read_bytes()
        wal = tmp_path / "d" / "journal.db-wal"
        db += wal.read_bytes() if wal.exists() else b""
        secret = raw[16:]  # after "sk_<12 hex>_"
        assert raw.encode() not in db and secret.encode() not in db
        row = sqlite3.connect(tmp_path / "d" / "journal.db").execute(
            "SELECT digest FROM api_keys").fetchone()
        assert bytes(row[0]) == key_digest(raw)
    arun(main())


def test_bad_keys_fail_alike_and_are_audited_without_the_secret(tmp_path: Path) -> None:
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            info, raw = await e.keys.create(name="alice", role="operator")
            wrong = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
            unknown = "sk_000000000000_" + raw[16:]
            for bad in (wrong, unknown, "", "sk_x", raw + "x", raw.upper()):
                assert await e.keys.authenticate(bad) is None
            fails = [r for r in await e.audit.read() if r["action"] == "auth.failed"]
            assert [f["details"]["reason"] for f in fails] == [
                "wrong_secret", "unknown_key", "malformed", "malformed", "malformed",
                "malformed"]
            assert fails[0]["target"] == info.key_id and fails[0]["outcome"] == "denied"
            assert all(raw[16:] not in json.dumps(f) and wrong[16:] not in json.dumps(f)
                       for f in fails)
    arun(main())


def test_expiry_revocation_and_rotation() -> None:
    async def main() -> None:
        clock = Clock()
        keys = KeyManager(MemoryStore(), clock=clock)
        _, old_raw = await keys.create(name="svc", role="runner", expires_s=3600)
        new, new_raw = await keys.create(name="svc", role="runner")
        # two valid at once: both are the same principal
        a, b = await keys.authenticate(old_raw), await keys.authenticate(new_raw)
        assert a is not None and b is not None and a.id == b.id == "svc"
        with pytest.raises(ParameterError, match="already has 2 valid keys") as third:
            await keys.create(name="svc", role="runner")
        assert third.value.code == "too_many_keys"
        await keys.create(name="other", role="viewer")  # another name is not counted
        clock.now += 3600  # the old one expires: a third may be made
        assert await keys.authenticate(old_raw) is None
        _, third_raw = await keys.create(name="svc", role="runner")
        assert await keys.revoke(new.key_id) and not await keys.revoke(new.key_id)
        assert await keys.authenticate(new_raw) is None  # effective at once
        assert await keys.authenticate(third_raw) is not None
        assert not await keys.revoke("nope")
    arun(main())


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"name": "local", "role": "admin"}, "local"),
    ({"name": "has space", "role": "admin"}, "has space"),
    ({"name": "x", "role": "boss"}, "boss"),
    ({"name": "x", "role": "runner", "skills": []}, "skills"),
    ({"name": "x", "role": "runner", "permissions": ["teleport"]}, "teleport"),
    ({"name": "x", "role": "runner", "expires_s": 0}, "expires_s"),
])
def test_create_refuses_bad_input_by_name(kwargs: dict[str, object], named: str) -> None:
    async def main() -> None:
        with pytest.raises(ParameterError, match=named):
            await KeyManager(MemoryStore()).create(**kwargs)  # type: ignore[arg-type]
    arun(main())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"sk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", fullmatch=True))
def test_authenticate_never_raises_on_any_text(text: str) -> None:
    async def main() -> None:
        keys = KeyManager(MemoryStore())
        await keys.create(name="a", role="runner")
        assert await keys.authenticate(text) is None
    arun(main())


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_create_shows_once_list_revoke(tmp_path: Path) -> None:
    made = cli("keys", "create", "--name", "alice", "--role", "runner", "--skills", "add,csv.*",
               "--expires", "30d", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    raw = made.stdout.strip()
    assert raw.startswith("sk_") and "shown this once" in made.stderr
    key_id = raw.split("_")[1]
    listed = cli("keys", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0 and raw[16:] not in listed.stdout
    (row,) = json.loads(listed.stdout)
    assert row["key_id"] == key_id and row["skills"] == ["add", "csv.*"] and row["valid"]
    assert 29 * 86400 < row["expires_at"] - row["created_at"] <= 30 * 86400
    assert "digest" not in row and "key" not in row
    table = cli("keys", "list", cwd=tmp_path)
    assert key_id in table.stdout and "valid" in table.stdout and raw[16:] not in table.stdout

    async def check(raw_key: str) -> Principal | None:
        async with SkillExecutionEngine(data_dir=tmp_path / ".skillexec") as e:
            return await e.keys.authenticate(raw_key)
    assert arun(check(raw)) is not None
    assert cli("keys", "revoke", key_id, cwd=tmp_path).returncode == 0
    assert arun(check(raw)) is None
    again = cli("keys", "revoke", key_id, cwd=tmp_path)
    # not a valid key (any more): bad input, exit 2 as for every id the journal lacks
    assert again.returncode == 2 and again.stderr.startswith("skillexec: no valid key")
    bad = cli("keys", "create", "--name", "x", "--role", "boss", cwd=tmp_path)
    assert bad.returncode == 2 and "boss" in bad.stderr and "Traceback" not in bad.stderr
    as_json = cli("keys", "create", "--name", "bob", "--json", cwd=tmp_path)
    body = json.loads(as_json.stdout)
    assert body["key"].startswith(f"sk_{body['key_id']}_") and body["role"] == "runner"
    actions = [json.loads(line)["action"] for line in
               cli("audit", "show", "--json", cwd=tmp_path).stdout.splitlines()]
    assert actions.count("key.created") == 2 and actions.count("key.revoked") == 2


def test_a_lifetime_beyond_ten_years_is_refused_and_one_already_kept_is_listed(
        tmp_path: Path) -> None:
    """--expires 99999999999d was taken (expiry in the year 273 million): every `keys list`
    after it failed 'internal error: ValueError: year 273792727 is out of range'. The HTTP
    route already caps a key's lifetime at ten years; the engine's API did not."""
    async def refused() -> None:
        with pytest.raises(ParameterError, match="10 years"):
            await KeyManager(MemoryStore()).create(name="x", role="runner", expires_s=1e12)
    arun(refused())
    bad = cli("keys", "create", "--name", "x", "--expires", "99999999999d", cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.startswith("skillexec: --expires 99999999999d:"), bad.stderr
    made = cli("keys", "create", "--name", "x", "--expires", "3650d", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip().split("_")[1]
    with sqlite3.connect(tmp_path / ".skillexec" / "journal.db") as db:  # an older engine's
        db.execute("UPDATE api_keys SET expires_at = 8.6e15 WHERE key_id = ?", (key_id,))
    listed = cli("keys", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and "valid" in listed.stdout
