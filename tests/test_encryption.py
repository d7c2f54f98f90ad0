"""Encryption at rest ([security] encryption): payloads sealed with AES-256-GCM under
per-principal data keys, each bound to its row and field; artifacts sealed in chunks; a
wrong or missing master key stops the engine at start in one sentence; rotate-master
re-wraps the data keys without touching the data."""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from skillexec import EngineConfig, SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import ConfigError, ResourceError, SkillExecError
from skillexec.security import nonces
from skillexec.security.artifact_seal import CHUNK_BYTES, open_chunks, seal_to
from skillexec.security.keyring import Keyring, load_master_key
from skillexec.storage.codec import SealingCodec
from tests.conftest import arun

CANARY = "canary-7f3a9c1e-parameter"
OUT_CANARY = "canary-5b1d22aa-output"
ERR_CANARY = "canary-91e0cc4d-error"
ART_CANARY = b"canary-0d6e7f11-artifact-bytes"


def _master() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@skill(id="echo-secret", timeout=5)
async def echo_secret(text: str, context: Any = None) -> dict[str, Any]:
    context.save_artifact("a.bin", ART_CANARY * 5000)  # > 2 chunks
    return {"said": text + OUT_CANARY}


@skill(id="fail-secret", timeout=5)
async def fail_secret(text: str) -> None:
    raise ValueError(f"bad input {text} {ERR_CANARY}")


def _config(tmp_path: Path, **security: Any) -> EngineConfig:
    return EngineConfig(data_dir=tmp_path / "d", security={"encryption": True, **security},
                        reliability={"dead_letters": True})


def _run_some(config: EngineConfig) -> tuple[str, str, str]:
    async def go() -> tuple[str, str, str]:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(echo_secret)
            engine.register(fail_secret)
            ok = await engine.execute("echo-secret", {"text": CANARY}, principal="alice")
            bad = await engine.execute("fail-secret", {"text": CANARY}, principal="alice",
                                       max_retries=1)
            assert ok.status is TaskStatus.SUCCEEDED and bad.status is TaskStatus.FAILED
            return ok.task_id, bad.task_id, ok.artifacts[0].id
    return arun(go())


def _raw_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())


def test_round_trip_and_no_plaintext_on_disk(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)
    ok_id, bad_id, art_id = _run_some(config)

    async def read() -> tuple[Any, ...]:
        async with SkillExecutionEngine(config=config) as engine:
            info = await engine.status(ok_id)
            bad = await engine.status(bad_id)
            history = await engine.history(bad_id)
            request = await engine.journal.get_request(ok_id)
            art = await engine.artifacts.read(art_id)
            dead = await engine.journal.read_events("dead_letter")
            return info, bad, history, request, art, dead

    info, bad, history, request, art, dead = arun(read())
    assert info.result.output == {"said": CANARY + OUT_CANARY}
    assert ERR_CANARY in bad.result.error.message
    assert any(ERR_CANARY in (h.get("error") or {}).get("message", "") for h in history)
    assert request.request.params == {"text": CANARY}
    assert art == ART_CANARY * 5000
    assert ERR_CANARY in dead[0]["data"]["error"]["message"]
    raw = _raw_bytes(config.data_dir)
    for canary in (CANARY.encode(), OUT_CANARY.encode(), ERR_CANARY.encode(), ART_CANARY):
        assert canary not in raw


def test_plaintext_is_on_disk_without_encryption(tmp_path: Path) -> None:
    """The control: the canaries do reach the disk when encryption is off."""
    config = EngineConfig(data_dir=tmp_path / "d")
    _run_some(config)
    raw = _raw_bytes(config.data_dir)
    assert CANARY.encode() in raw and ART_CANARY in raw


def test_a_ciphertext_moved_to_another_row_or_field_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)
    ok_id, bad_id, _ = _run_some(config)
    with sqlite3.connect(config.journal_path) as db:
        a = db.execute("SELECT params FROM tasks WHERE task_id=?", (ok_id,)).fetchone()[0]
        b = db.execute("SELECT params FROM tasks WHERE task_id=?", (bad_id,)).fetchone()[0]
        db.execute("UPDATE tasks SET params=? WHERE task_id=?", (b, ok_id))
        db.execute("UPDATE tasks SET params=?, config=? WHERE task_id=?", (a, a, bad_id))

    async def read(task_id: str) -> Any:
        async with SkillExecutionEngine(config=config.model_copy(update={"recover": False})) \
                as engine:
            return await engine.journal.get_request(task_id)

    for task_id in (ok_id, bad_id):
        with pytest.raises(ResourceError) as err:
            arun(read(task_id))
        assert err.value.code == "decrypt_failed"


def test_another_principals_ciphertext_fails(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path / "k.json", os.urandom(32))
    codec = SealingCodec(ring)
    sealed = codec.seal("tasks", "t1", "params", "alice", b'{"a":1}')
    assert codec.open("tasks", "t1", "params", "alice", sealed) == b'{"a":1}'
    for table, row, field, who in (("tasks", "t1", "params", "bob"),
                                   ("tasks", "t2", "params", "alice"),
                                   ("tasks", "t1", "config", "alice"),
                                   ("cache", "t1", "params", "alice"),
                                   ("tasks", "t1", "params", None)):
        with pytest.raises(ResourceError):
            codec.open(table, row, field, who, sealed)
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(ResourceError):
        codec.open("tasks", "t1", "params", "alice", bytes(flipped))


def test_wrong_or_missing_key_stops_the_engine_with_one_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)
    _run_some(config)
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    with pytest.raises(ConfigError, match="master key does not match") as err:
        SkillExecutionEngine(config=config)
    assert err.value.code == "master_key_wrong" and "\n" not in str(err.value)
    monkeypatch.delenv("SKILLEXEC_MASTER_KEY")
    with pytest.raises(ConfigError, match="no master key was given"):
        SkillExecutionEngine(config=config)
    with pytest.raises(ConfigError, match="is encrypted"):  # encryption turned off
        SkillExecutionEngine(config=EngineConfig(data_dir=config.data_dir))
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", "too-short")
    with pytest.raises(ConfigError, match="not a 32-byte key"):
        SkillExecutionEngine(config=config)


def test_the_cli_says_one_sentence_on_a_wrong_key(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.cli.app import app
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    monkeypatch.setenv("SKILLEXEC_SECURITY__ENCRYPTION", "true")
    config = _config(tmp_path)
    _run_some(config)
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    out = CliRunner().invoke(app, ["tasks", "list", "--data-dir", str(config.data_dir)])
    assert out.exit_code == 2, out.output
    assert "master key does not match" in out.output and "Traceback" not in out.output


def test_key_file_must_be_private(tmp_path: Path) -> None:
    f = tmp_path / "master.key"
    f.write_text(_master())
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by group or others"):
        load_master_key(key_file=f)
    f.chmod(0o600)
    assert len(load_master_key(key_file=f)) == 32
    link = tmp_path / "link.key"
    link.symlink_to(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_master_key(key_file=link)
    raw = tmp_path / "raw.key"
    raw.write_bytes(os.urandom(32))
    raw.chmod(0o400)
    assert len(load_master_key(key_file=raw)) == 32
    hexed = tmp_path / "hex.key"
    hexed.write_text(os.urandom(32).hex() + "\n")
    hexed.chmod(0o600)
    assert len(load_master_key(key_file=hexed)) == 32


def test_rotate_master_rewraps_without_touching_the_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.cli.app import app
    old, new = _master(), _master()
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", old)
    config = _config(tmp_path)
    ok_id, _, art_id = _run_some(config)
    journal_before = config.journal_path.read_bytes()
    arts_before = {p: p.read_bytes() for p in config.artifacts_dir.rglob("*") if p.is_file()}
    new_file = tmp_path / "new.key"
    new_file.write_text(new)
    new_file.chmod(0o600)
    monkeypatch.setenv("SKILLEXEC_SECURITY__ENCRYPTION", "true")
    out = CliRunner().invoke(app, ["keys", "rotate-master", str(new_file),
                                   "--data-dir", str(config.data_dir)])
    assert out.exit_code == 0, out.output
    assert "re-wrapped 2 data keys" in out.output  # alice's and the engine's own
    assert config.journal_path.read_bytes() == journal_before
    assert {p: p.read_bytes() for p in arts_before} == arts_before

    with pytest.raises(ConfigError, match="does not match"):  # the old key: refused
        SkillExecutionEngine(config=config)
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", new)

    async def read() -> tuple[Any, bytes]:
        async with SkillExecutionEngine(config=config) as engine:
            return (await engine.status(ok_id)).result.output, await engine.artifacts.read(
                art_id)
    output, art = arun(read())
    assert output == {"said": CANARY + OUT_CANARY} and art == ART_CANARY * 5000


def _sealed_file(ring: Keyring, data: bytes) -> tuple[bytes, str]:
    key = ring.key_for("alice")
    buf = io.BytesIO()
    seal_to(buf, data, key=key, owner="alice", digest="d" * 64)
    return buf.getvalue(), "d" * 64


def test_artifacts_are_chunked_and_cannot_be_cut_or_reordered(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path / "k.json", os.urandom(32))
    data = os.urandom(3 * CHUNK_BYTES + 17)
    blob, digest = _sealed_file(ring, data)
    chunks = list(open_chunks(io.BytesIO(blob), keyring=ring, digest=digest))
    assert [len(c) for c in chunks] == [CHUNK_BYTES] * 3 + [17]
    assert b"".join(chunks) == data
    header = blob.index(b"alice") + 5
    step = 12 + CHUNK_BYTES + 16
    parts = [blob[header + i * step: header + (i + 1) * step] for i in range(4)]
    damaged = {
        "cut at a chunk boundary": blob[:header + 3 * step],
        "cut inside a chunk": blob[:-5],
        "chunks swapped": blob[:header] + parts[1] + parts[0] + parts[2] + parts[3],
        "a chunk dropped": blob[:header] + parts[0] + parts[2] + parts[3],
        "a byte flipped": blob[:-1] + bytes([blob[-1] ^ 1]),
    }
    for what, bad in damaged.items():
        with pytest.raises(SkillExecError, match="artifact"):
            b"".join(open_chunks(io.BytesIO(bad), keyring=ring, digest=digest))
        assert what
    with pytest.raises(SkillExecError):  # another address: the file was moved
        list(open_chunks(io.BytesIO(blob), keyring=ring, digest="e" * 64))
    empty, d2 = _sealed_file(ring, b"")
    assert list(open_chunks(io.BytesIO(empty), keyring=ring, digest=d2)) == [b""]


def test_artifacts_dedupe_within_a_principal_only_by_keyed_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)

    async def go() -> list[Any]:
        async with SkillExecutionEngine(config=config) as engine:
            save = engine.artifacts.save
            return [save("x", b"same bytes", principal="alice"),
                    save("y", b"same bytes", principal="alice"),
                    save("z", b"same bytes", principal="bob")]
    a1, a2, b1 = arun(go())
    assert a1.sha256 == a2.sha256 != b1.sha256
    assert hashlib.sha256(b"same bytes").hexdigest() not in {a1.sha256, b1.sha256}
    files = [p for p in config.artifacts_dir.rglob("*") if p.is_file()]
    assert len(files) == 2


def test_reports_and_listings_work_with_encryption_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.cli.app import app
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    monkeypatch.setenv("SKILLEXEC_SECURITY__ENCRYPTION", "true")
    config = _config(tmp_path)
    ok_id, _, _ = _run_some(config)
    d = str(config.data_dir)
    runner = CliRunner()
    for args in (["report", "summary"], ["report", "errors"], ["tasks", "list"],
                 ["tasks", "show", ok_id], ["artifacts", "list"]):
        out = runner.invoke(app, [*args, "--data-dir", d])
        assert out.exit_code == 0, (args, out.output)
    shown = runner.invoke(app, ["tasks", "show", ok_id, "--json", "--data-dir", d])
    assert OUT_CANARY in shown.output  # decrypted for whoever holds the key


_RING: list[Keyring] = []


def _codec() -> SealingCodec:
    if not _RING:
        import tempfile
        _RING.append(Keyring.open(Path(tempfile.mkdtemp()) / "k.json", os.urandom(32)))
    return SealingCodec(_RING[0])


_NAMES = st.text(min_size=0, max_size=12)


@given(data=st.binary(max_size=2048), table=_NAMES, row=_NAMES, field=_NAMES,
       who=st.one_of(st.none(), _NAMES), flip=st.integers(min_value=0))
@settings(max_examples=200, deadline=None)
def test_sealing_round_trips_and_any_flipped_byte_fails(
        data: bytes, table: str, row: str, field: str, who: str | None, flip: int) -> None:
    codec = _codec()
    sealed = codec.seal(table, row, field, who, data)
    assert codec.open(table, row, field, who, sealed) == data
    assert data not in sealed or len(data) < 4
    bad = bytearray(sealed)
    bad[flip % len(bad)] ^= 0x01
    with pytest.raises(SkillExecError):
        opened = codec.open(table, row, field, who, bytes(bad))
        # a flipped version byte reads as "never sealed": then it is not the data either
        assert opened != data
        raise ResourceError("read as plain", code="decrypt_failed")


@given(a=st.tuples(_NAMES, _NAMES, _NAMES), b=st.tuples(_NAMES, _NAMES, _NAMES))
@settings(max_examples=100, deadline=None)
def test_associated_data_is_unambiguous(a: tuple[str, str, str],
                                        b: tuple[str, str, str]) -> None:
    codec = _codec()
    sealed = codec.seal(*a, "p", b"x")
    if a != b:
        with pytest.raises(ResourceError):
            codec.open(*b, "p", sealed)


def test_a_clear_payload_in_place_of_a_sealed_one_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)
    ok_id, _, _ = _run_some(config)
    with sqlite3.connect(config.journal_path) as db:
        db.execute("UPDATE tasks SET params=? WHERE task_id=?", (b'{"text": "forged"}', ok_id))
        result = db.execute("SELECT result FROM tasks WHERE task_id=?", (ok_id,)).fetchone()[0]
        body = json.loads(result)
        body.pop("sealed")
        body["output"] = {"said": "forged"}
        db.execute("UPDATE tasks SET result=? WHERE task_id=?", (json.dumps(body), ok_id))

    async def read() -> tuple[Any, Any]:
        async with SkillExecutionEngine(config=config.model_copy(update={"recover": False})) \
                as engine:
            try:
                await engine.journal.get_request(ok_id)
            except ResourceError as exc:
                req = exc
            try:
                await engine.status(ok_id)
            except ResourceError as exc:
                return req, exc
            return req, None
    req_err, res_err = arun(read())
    assert isinstance(req_err, ResourceError) and req_err.code == "decrypt_failed"
    assert isinstance(res_err, ResourceError) and res_err.code == "decrypt_failed"


def test_a_forged_purge_flag_cannot_put_a_clear_output_in_place_of_a_sealed_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The purge flag is in clear: a journal edited to drop the sealed part and say
    "purged" beside a clear output of its own shows no output, never the forged one."""
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)
    ok_id, fail_id, _ = _run_some(config)
    with sqlite3.connect(config.journal_path) as db:
        for task_id in (ok_id, fail_id):
            result = db.execute("SELECT result FROM tasks WHERE task_id=?",
                                (task_id,)).fetchone()[0]
            body = json.loads(result)
            body.pop("sealed")
            body["purged"] = True
            body["output"] = {"said": "forged output"}
            if isinstance(body.get("error"), dict):
                body["error"]["message"] = "forged message"
                body["error"]["details"] = {"forged": True}
            db.execute("UPDATE tasks SET result=? WHERE task_id=?", (json.dumps(body), task_id))

    async def read() -> list[Any]:
        async with SkillExecutionEngine(config=config.model_copy(update={"recover": False})) \
                as engine:
            return [await engine.wait(t, principal="alice") for t in (ok_id, fail_id)]
    ok, failed = arun(read())
    assert ok.output is None
    assert failed.error is not None and "forged" not in failed.error.message
    assert "forged" not in json.dumps(failed.error.details or {})


@skill(id="no-params", timeout=5)
async def no_params() -> str:
    return OUT_CANARY


def test_empty_parameters_are_left_clear_and_read_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty object hides nothing: a call without parameters pays for no seal (the
    no-op call's hot path), yet reads back, and its output is sealed as any."""
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)

    async def go() -> tuple[str, Any, Any]:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(no_params)
            done = await engine.execute("no-params", principal="alice")
            return (done.task_id, await engine.journal.get_request(done.task_id),
                    await engine.status(done.task_id))
    task_id, request, info = arun(go())
    assert request.request.params == {} and info.result.output == OUT_CANARY
    with sqlite3.connect(config.journal_path) as db:
        params, result = db.execute("SELECT params, result FROM tasks WHERE task_id=?",
                                    (task_id,)).fetchone()
    assert params == b"{}"
    assert OUT_CANARY.encode() not in result and "sealed" in json.loads(result)


@skill(id="nothing", timeout=5)
async def nothing() -> None:
    return None


def test_no_output_and_no_error_is_left_clear_and_read_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sealed {"output": null} would hide nothing its length does not show: a call that
    returns None without an error pays for no seal (the no-op call's hot path) and reads
    back from a new engine; a clear output or error text in its place is still refused."""
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path)

    async def run() -> str:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(nothing)
            done = await engine.execute("nothing", principal="alice")
            assert done.status is TaskStatus.SUCCEEDED
            return done.task_id
    task_id = arun(run())
    with sqlite3.connect(config.journal_path) as db:
        result = db.execute("SELECT result FROM tasks WHERE task_id=?", (task_id,)).fetchone()[0]
    body = json.loads(result)
    assert "sealed" not in body and body["output"] is None and body["error"] is None

    async def read() -> Any:
        async with SkillExecutionEngine(config=config.model_copy(update={"recover": False})) \
                as engine:
            return await engine.wait(task_id, principal="alice")
    assert arun(read()).output is None
    for forged in ({"output": "forged"}, {"error": {"type": "execution", "code": "x",
                                                    "message": "forged", "retryable": False}}):
        with sqlite3.connect(config.journal_path) as db:
            db.execute("UPDATE tasks SET result=? WHERE task_id=?",
                       (json.dumps({**body, **forged}), task_id))
        with pytest.raises(ResourceError) as err:
            arun(read())
        assert err.value.code == "decrypt_failed"


def test_sealed_fields_take_unique_nonces_from_the_pool_across_refills() -> None:
    codec = _codec()
    n = nonces.BLOCK * 3 + 7  # several refills of the pool
    seen = {codec.seal("tasks", f"r{i}", "result", "p", b"x")[5:17] for i in range(n)}
    assert len(seen) == n


def test_threads_never_share_a_nonce() -> None:
    got: list[list[bytes]] = [[] for _ in range(8)]

    def draw(out: list[bytes]) -> None:
        for _ in range(3 * nonces.BLOCK):
            out.append(nonces.nonce())
    threads = [threading.Thread(target=draw, args=(g,)) for g in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [x for g in got for x in g]
    assert all(len(x) == 12 for x in every) and len(set(every)) == len(every)


def test_a_forked_child_does_not_reuse_its_parents_nonces() -> None:
    nonces.nonce()  # the pool now holds nonces the parent will hand out next
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next nonces go to the parent, then it exits
        os.close(r)
        os.write(w, b"".join(nonces.nonce() for _ in range(4)))
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        child = f.read()
    os.waitpid(pid, 0)
    parent = b"".join(nonces.nonce() for _ in range(4))
    assert len(child) == 48 and child != parent
    assert not {child[i:i + 12] for i in range(0, 48, 12)} & \
        {parent[i:i + 12] for i in range(0, 48, 12)}
