"""``skillexec keys create | list | revoke | rotate-master``: the API keys of this data
directory, and the master key its data keys are wrapped under.

``create`` prints the key once: the journal keeps only its SHA-256, so a lost key cannot be
shown again (make another and revoke the lost one). Every change is audited as ``local``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import orjson
import typer
from rich.table import Table

from skillexec.cli import options as opt
from skillexec.cli.artifacts_cmd import parse_age
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell, json_text

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from skillexec.security.keys import KeyInfo, KeyManager

__all__ = ["app", "with_keys"]

T = TypeVar("T")
app = typer.Typer(no_args_is_help=True,
                  help="API keys (create, list, revoke) and the master key (rotate-master).")


def with_keys(data_dir: Path | None, journal_url: str | None,
              use: Callable[[KeyManager], Awaitable[T]]) -> T:
    """Open (or make) the journal (``journal_url``, else the SQLite file of ``data_dir``)
    and the audit log of ``data_dir``, run ``use``, close."""
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)

    async def go() -> T:
        from skillexec.errors import SkillExecError
        from skillexec.security.audit import AuditLog
        from skillexec.security.keys import KeyManager

        store = await opt.open_journal(cfg, make=True)
        audit = AuditLog(store, directory=cfg.data_dir / "audit", enabled=cfg.audit.enabled,
                         checkpoint_every=cfg.audit.checkpoint_every,
                         journal=cfg.journal_identity)
        try:
            return await use(KeyManager(store, audit=audit.record))
        except SkillExecError as exc:
            opt.fail(str(exc))
        finally:
            await audit.close()
            await store.close()

    return opt.run_async(go())


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",")]


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):  # a key an older engine let outlive 9999
        return "after 9999"


@app.command()
def create(
    name: Annotated[str, typer.Option(help="Whose key: the principal it authenticates as.")],
    role: Annotated[str, typer.Option(
        help="admin, operator, runner, viewer or auditor.")] = "runner",
    skills: Annotated[str | None, typer.Option(
        help="Only these skills (comma-separated ids or patterns such as csv.*).")] = None,
    permissions: Annotated[str | None, typer.Option(
        help="The most manifest permissions its skills may get (comma-separated, e.g. "
        "file_read,file_write: no network).")] = None,
    expires: Annotated[str | None, typer.Option(
        help="Lifetime, e.g. 30d, 12h (default: until revoked).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Make a key and print it, once."""
    from skillexec.security.keys import MAX_LIFETIME_S

    expires_s = None if expires is None else parse_age(expires)
    if expires_s is not None and not 0 < expires_s <= MAX_LIFETIME_S:
        opt.fail(f"--expires {expires}: a key lives over 0 and at most {MAX_LIFETIME_S // 86400}d "
                 "(ten years); leave it out for a key that lasts until revoked")
    info, raw = with_keys(data_dir, journal_url, lambda keys: keys.create(
        name=name, role=role, skills=_names(skills), permissions=_names(permissions),
        expires_s=expires_s))
    if as_json:
        typer.echo(json_text(orjson.dumps({**info.to_dict(), "key": raw}).decode()))
        return
    typer.echo(raw)
    typer.echo(f"key {info.key_id} for {info.name!r} ({info.role.value}), expires "
               f"{_when(info.expires_at) if info.expires_at else 'never'}: shown this once, "
               "keep it now", err=True)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
          data_dir: opt.DataDir = None, journal_url: opt.JournalUrl = None) -> None:
    """Every key, oldest first: ids, owners, roles, grants and state (never a secret)."""
    import time

    infos: list[KeyInfo] = with_keys(data_dir, journal_url, lambda keys: keys.list())
    now = time.time()
    if as_json:
        typer.echo(json_text(orjson.dumps(
            [{**i.to_dict(), "valid": i.valid(now)} for i in infos]).decode()))
        return
    table = Table(title=f"{len(infos)} keys")
    for col in ("key id", "name", "role", "skills", "permissions", "created", "expires",
                "first used", "state"):
        table.add_column(col, no_wrap=col != "skills", overflow="fold")
    for i in infos:
        state = "revoked" if i.revoked_at is not None else "valid" if i.valid(now) \
            else "expired"
        table.add_row(cell(i.key_id), cell(i.name), i.role.value,
                      cell(",".join(sorted(i.skills)) if i.skills is not None else "all"),
                      cell(",".join(sorted(i.permissions)) if i.permissions is not None
                           else "any"),
                      _when(i.created_at), _when(i.expires_at), _when(i.used_at), state)
    print_table(table, console=make_console())


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(metavar="ID", help="A key id.")],
           data_dir: opt.DataDir = None, journal_url: opt.JournalUrl = None) -> None:
    """Revoke a key: refused from its next use on."""
    if not with_keys(data_dir, journal_url, lambda keys: keys.revoke(key_id)):
        opt.fail(f"no valid key with id {key_id!r}")  # an unknown id: bad input, exit 2
    typer.echo(f"key {key_id} revoked")


@app.command("rotate-master")
def rotate_master(
    new_key_file: Annotated[Path, typer.Argument(
        metavar="NEW_KEY_FILE",
        help="A file (mode 0600) holding the new 32-byte master key (raw, base64 or hex).")],
    data_dir: opt.DataDir = None,
) -> None:
    """Re-wrap the data keys under a new master key (only keyring.json changes).

    The current key is given as usual (SKILLEXEC_MASTER_KEY or [security] master_key_file).
    Stop the engine first."""
    from skillexec.errors import SkillExecError
    from skillexec.security.keyring import Keyring, load_master_key

    cfg = opt.config(skills_dir=None, data_dir=data_dir)
    path = cfg.keyring_path
    if not path.exists():
        opt.fail(f"{cfg.data_dir} holds no keyring: encryption was never on here")
    if opt.engine_alive(cfg.data_dir):
        opt.fail(f"an engine is running on {cfg.data_dir}: stop it first (it would write "
                 "the keyring under the old key)")
    try:
        current = load_master_key(key_file=cfg.security.master_key_file)
        new = load_master_key(key_file=new_key_file)
        count = Keyring.open(path, current).rotate_master(new)
    except SkillExecError as exc:
        opt.fail(str(exc))
    typer.echo(f"re-wrapped {count} data keys under the new master key; give the engine the "
               "new key from now on")
