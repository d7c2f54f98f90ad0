"""``skillexec worker``: run tasks published by any node (distributed mode), and the
``doctor`` rows that check the broker and the database."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skillexec.cli import options as opt
from skillexec.errors import SkillExecError

if TYPE_CHECKING:
    from skillexec.config import EngineConfig

__all__ = ["BrokerUrl", "DatabaseUrl", "distributed_config", "doctor_rows", "worker"]

BrokerUrl = Annotated[str | None, typer.Option(
    "--broker-url", help="Celery broker, redis://... or amqp://... (or SKILLEXEC_BROKER_URL).")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="PostgreSQL for claims and leases (or "
    "SKILLEXEC_DISTRIBUTED__DATABASE_URL).")]


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # Celery's (FATAL: CRITICAL)


def distributed_config(cfg: EngineConfig, *, broker_url: str | None,
                       database_url: str | None) -> EngineConfig:
    """``cfg`` with the command's --broker-url / --database-url, validated; the claims'
    database defaults to the journal's when that is PostgreSQL."""
    from pydantic import ValidationError

    from skillexec.config import EngineConfig

    journal_url = cfg.journal.url or ""
    if database_url is None and cfg.distributed.database_url is None and \
            journal_url.startswith(("postgresql://", "postgres://")):
        database_url = journal_url  # claims beside the shared journal, unless told otherwise
    if broker_url is None and database_url is None:
        return cfg
    data = cfg.model_dump()
    if broker_url is not None:
        data["broker_url"] = broker_url
    if database_url is not None:
        data["distributed"]["database_url"] = database_url
    try:
        return EngineConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        opt.fail(f"{'.'.join(str(p) for p in first['loc'])}: "
                 f"{str(first['msg']).removeprefix('Value error, ')}")


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=1000,
                                             help="Tasks this worker runs at once.")] = 2,
    queues: Annotated[str | None, typer.Option(
        "--queues", "-Q", help="Comma-separated broker queues (default: distributed.queue).")]
    = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on 127.0.0.1.")]
    = None,
    broker_url: BrokerUrl = None, database_url: DatabaseUrl = None,
    journal_url: opt.JournalUrl = None,
    skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery's log level.")]
    = "WARNING",
) -> None:
    """Run a worker: claim tasks published by any node, run them, until SIGTERM."""
    cfg = distributed_config(
        opt.config(skills_dir=skills_dir, data_dir=data_dir, concurrency=concurrency,
                   journal_url=journal_url),
        broker_url=broker_url, database_url=database_url)
    if loglevel.upper() not in _LEVELS:  # else Celery's to refuse, after the node started
        opt.fail(f"--loglevel {loglevel}: use one of {', '.join(_LEVELS).lower()}")
    if cfg.broker_url is None:
        opt.fail("a worker needs a broker: --broker-url or SKILLEXEC_BROKER_URL")
    names = [q.strip() for q in (queues or cfg.distributed.queue).split(",") if q.strip()]
    if not names:
        opt.fail("--queues: give at least one queue name")
    for name in names:
        _check_queue(cfg, name)
    from skillexec.distributed.worker import run_worker
    from skillexec.engine import SkillExecutionEngine

    def make_engine(store: Any) -> SkillExecutionEngine:
        return SkillExecutionEngine(config=cfg, store=store)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:  # sealed as the engines' journal is (a wrong or missing master key: one sentence)
        codec = cfg.codec()
    except SkillExecError as exc:
        opt.fail(str(exc))
    # SQLite shared on this host, or PostgreSQL for many
    journal = cfg.journal_store(codec=codec)
    try:
        code = run_worker(broker_url=cfg.broker_url, settings=cfg.distributed, journal=journal,
                          make_engine=make_engine, concurrency=concurrency, queues=names,
                          metrics_port=metrics_port, loglevel=loglevel.upper(),
                          artifacts_dir=cfg.artifacts_dir)
    except SkillExecError as exc:
        opt.fail(str(exc))
    if code:  # Celery's unrecoverable error, logged above: not a clean shutdown
        opt.fail("the worker stopped on an error its log names above", code)
    raise typer.Exit(code)


def _check_queue(cfg: EngineConfig, name: str) -> None:
    """A --queues name under distributed.queue's rule: the broker takes any text from
    Redis, but RabbitMQ ends the worker on a name over 255 bytes, and clients can only
    send to a name the setting accepts."""
    from pydantic import ValidationError

    try:
        type(cfg.distributed).model_validate({**cfg.distributed.model_dump(), "queue": name})
    except ValidationError:
        shown = name if len(name) <= 60 else name[:60] + "..."
        opt.fail(f"--queues: {shown!r} is not a queue name: use letters, digits and _ . : - "
                 "(1 to 200 characters)")


def doctor_rows(cfg: EngineConfig, *, database_given: bool = False) -> list[dict[str, Any]]:
    """Whether the broker and the database of distributed mode answer (none: embedded).

    ``database_given``: the user named the claims' database, so it is checked even without
    a broker (an option that is asked for is never silently ignored)."""
    if cfg.broker_url is None and not database_given:
        return []
    rows: list[dict[str, Any]] = []
    if cfg.broker_url is not None:
        rows.append(_broker_row(cfg.broker_url, cfg.distributed.queue))
    url = cfg.distributed.database_url
    if url is None:
        rows.append(_row("database", False, "distributed.database_url is not set"))
        return rows
    import psycopg

    from skillexec.distributed.ledger import MIGRATIONS, Ledger, unavailable

    async def check() -> int | None:
        # Read only: a check changes nothing in the database it looks at (a worker makes
        # and migrates the tables when it starts).
        ledger = Ledger(url, worker_id="doctor", lease_s=1.0, pool_size=1)
        await ledger.open(migrate=False)
        try:
            return await ledger.schema_version()
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc
        finally:
            await ledger.close()

    try:
        version = asyncio.run(check())
    except SkillExecError as exc:
        rows.append(_row("database", False, str(exc)))
        return rows
    latest = len(MIGRATIONS)
    newer = version is not None and version > latest  # this node's workers would refuse it
    rows.append(_row("database", not newer, "answers; " + (
        "no ledger tables yet: the first worker to start makes them" if version is None
        else f"ledger schema version {version} of {latest}" + (
            ": newer than this skillexec: upgrade it" if newer else "" if version == latest
            else ": the next worker to start migrates it"))))
    return rows


def _broker_row(broker_url: str, queue: str) -> dict[str, Any]:
    from skillexec.distributed.transport import Transport

    transport = Transport(broker_url, queue)
    try:
        transport.ping()
        return _row("broker", True, "answers")
    except Exception as exc:
        return _row("broker", False, f"does not answer: {opt.reason(exc)}")
    finally:
        transport.close()


def _row(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"section": "distributed", "mechanism": name, "available": ok, "detail": detail}

