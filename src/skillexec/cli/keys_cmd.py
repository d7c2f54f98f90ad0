"""``skillexec keys rotate-master``: re-wrap the data keys of an encrypted data directory
under a new master key. The data itself is not touched (only ``keyring.json`` changes), so
this takes milliseconds whatever the journal's size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skillexec.cli import options as opt
from skillexec.errors import SkillExecError

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Encryption keys of the data directory.")


@app.command("rotate-master")
def rotate_master(
    new_key_file: Annotated[Path, typer.Argument(
        metavar="NEW_KEY_FILE",
        help="A file (mode 0600) holding the new 32-byte master key (raw, base64 or hex).")],
    data_dir: opt.DataDir = None,
) -> None:
    """Re-wrap the data keys under a new master key.

    The current key is given as usual (SKILLEXEC_MASTER_KEY or [security] master_key_file).
    Stop the engine first."""
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
