"""Skill environments (DESIGN §3.6): one folder of installed packages per requirement set.

``<data_dir>/envs/<key>/site-packages`` where ``key`` hashes the normalized set (and the
interpreter), so skills declaring the same packages share one. An environment is built in a
temporary folder beside it and renamed into place only when the install succeeded, with a
marker (``skillexec-env.json``) holding the resolved set: a folder without one is never
used. A cross-process lock per key makes concurrent first uses (two engines, or an engine
and ``skillexec skills install``) install once; installs of other keys go on beside it, on
threads of their own (``pool``), and a call waits for its install no longer than its
timeout. A failed install is remembered (``<key>.failed``, see ``failures``): a failure of
the packages until ``skills install`` succeeds or the set or the installer's settings
change, a transient one (the index, the network, the disk) until a backoff has passed.

The engine's interpreter runs the skill: a requirement it already satisfies needs no
environment, so a skill whose whole set is met by the engine's own packages has none.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from skillexec.environments.extras import Extras
from skillexec.environments.failures import (
    Failure,
    failure_error,
    for_skill,
    read_failure,
    settings_mark,
    unavailable,
)
from skillexec.environments.flights import Flights
from skillexec.environments.installer import Installers, InstallSettings, install
from skillexec.environments.locks import file_lock, folder_error
from skillexec.environments.npm import npm_packages
from skillexec.environments.pool import InstallPool
from skillexec.environments.requirements import RequirementSet, requirement_set
from skillexec.environments.status import EnvStatus
from skillexec.errors import DependencyError, SkillExecError
from skillexec.skills.model import Skill

if TYPE_CHECKING:
    from skillexec.skills.registry import SkillRegistry

__all__ = ["MARKER", "EnvStatus", "EnvironmentManager"]

MARKER = "skillexec-env.json"
_INSTALL_THREADS = 8  # installs of different sets at once (one set installs once)
_HASHES_IGNORED = ("its requirements' --hash values were not checked: pip checks hashes only "
                   "when every package, dependencies included, has one (uv checks them)")


class EnvironmentManager:
    """Finds, builds and hands out skill environments under ``root`` (``<data_dir>/envs``)."""

    def __init__(self, root: Path, *, settings: InstallSettings | None = None,
                 publish: Callable[[Skill], None] | None = None) -> None:
        self.root = Path(root).absolute()  # env_paths go on a zygote's sys.path: absolute
        self.settings = settings or InstallSettings()
        self.publish = publish  # tells the registry of a skill whose environment is ready
        self.installs = 0  # installs this manager ran (not the ones it found made)
        # Skills by key whose environment is not ready: the engine's hot path reads this.
        # A requirement that cannot be read is kept as its error: each call is refused with it.
        self.pending: dict[str, RequirementSet | SkillExecError] = {}
        self._extras = Extras(self.root)
        self._installers = Installers()  # ``skills install``'s (a call's are its flight's)
        # Installs in progress by key, shared by the calls that wait for them.
        self._flights = Flights(InstallPool(workers=_INSTALL_THREADS))

    # -- what a skill needs ------------------------------------------------------------------

    def extras(self, skill_id: str) -> tuple[str, ...]:
        """The packages an operator added for ``skill_id`` (``skills install ID PKG``)."""
        return self._extras.get(skill_id)

    def changed(self) -> frozenset[str]:
        """The ids whose added packages changed since they were read (see Extras)."""
        return self._extras.changed()

    def requirements(self, skill: Skill) -> RequirementSet:
        return requirement_set(skill, self.extras(skill.id))

    def status(self, skill: Skill) -> EnvStatus:
        """Where ``skill``'s environment stands, without installing anything; with the
        npm packages its package.json lists, which no install of skillexec's makes."""
        npm = npm_packages(skill.path)
        try:
            reqs = self.requirements(skill)
        except SkillExecError as exc:
            return EnvStatus("failed", exc.message, npm=npm)

        def said(state: str, reason: str = "", key: str | None = None,
                 path: str | None = None) -> EnvStatus:
            return EnvStatus(state, reason, key, reqs.requirements, path, reqs.sources, npm)

        if not _needs_env(reqs):
            return said("none needed")
        folder = self.root / reqs.key
        if (folder / MARKER).is_file():
            ready = said("ready", key=reqs.key, path=str(folder))
            return dataclasses.replace(ready, note=_HASHES_IGNORED) \
                if reqs.hashes and _marker(folder).get("hashes") == "ignored" else ready
        failed = self._failure(reqs.key)
        if failed:
            return said("failed", failed.said(), reqs.key)
        return said("not installed", key=reqs.key)

    def planned(self, skill: Skill) -> Skill:
        """``skill`` as it will be once its pending environment is made (``env_paths``
        where :meth:`attach` will find it), for what is decided of it before then (its
        isolation: with an environment, a child process); as it is if nothing is pending."""
        reqs = self.pending.get(skill.key)
        if not isinstance(reqs, RequirementSet):
            return skill
        return dataclasses.replace(skill, env_paths=(str(self.root / reqs.key / "site-packages"),))

    def attach(self, skill: Skill) -> Skill:
        """``skill`` with ``env_paths`` set when its environment is ready; otherwise the
        same skill, remembered as pending (its first call provisions it)."""
        try:
            reqs = self.requirements(skill)
        except SkillExecError as exc:  # a bad requirements file: each call says so
            self.pending[skill.key] = exc
            return skill
        if not _needs_env(reqs):
            self.pending.pop(skill.key, None)
            return dataclasses.replace(skill, env_paths=()) if skill.env_paths else skill
        site = self.root / reqs.key / "site-packages"
        if (self.root / reqs.key / MARKER).is_file():
            self.pending.pop(skill.key, None)
            return dataclasses.replace(skill, env_paths=(str(site),))
        self.pending[skill.key] = reqs
        # An environment of the set before (packages added since) is not this one's.
        return dataclasses.replace(skill, env_paths=()) if skill.env_paths else skill

    def refresh(self, registry: SkillRegistry, *, pending: bool = True) -> None:
        """Attach again what another process changed: packages added (``skills install
        ID PKG``; every call's check, see :meth:`changed`), and with ``pending``, for a view
        that lists every skill (the HTTP skill list) without waiting for each one's next
        call, pending environments made or failed meanwhile (``skills install ID``): one
        ``stat`` per pending skill (a failure is read by :meth:`state_of`)."""
        changed = self.changed()
        if not changed and not pending:
            return
        keys = {f"{sid}@{v}" for sid in changed for v in registry.versions(sid)}
        if pending:
            keys.update(k for k, reqs in list(self.pending.items())
                        if isinstance(reqs, RequirementSet)
                        and (self.root / reqs.key / MARKER).is_file())
        for key in keys:
            sid, _, version = key.rpartition("@")
            try:
                skill = registry.get(sid, version)
            except SkillExecError:
                continue  # removed meanwhile
            fresh = self.attach(skill)
            if fresh is not skill:
                registry.add(fresh)

    def state_of(self, skill: Skill) -> str:
        """Where ``skill``'s environment stands, from what this manager knows (see
        :meth:`refresh`): ``ready``, ``none needed``, ``not installed`` or ``failed``."""
        pending = self.pending.get(skill.key)
        if pending is None:
            return "ready" if skill.env_paths else "none needed"
        if isinstance(pending, SkillExecError) or self._failure(pending.key) is not None:
            return "failed"
        return "not installed"

    # -- making one ---------------------------------------------------------------------------

    async def ensure(self, skill: Skill, *, timeout: float | None = None,
                     stop: bool = False) -> Skill:
        """The skill with its environment ready, provisioned now if need be (on the pool's
        threads, off the event loop; concurrent first calls share one install). The wait
        ends with the caller's ``timeout`` (``install_pending``, retryable) or cancellation:
        the install goes on, for the next call; unless, with ``stop`` (a submitted task
        cancelled), nobody else waits for it: then it is stopped (see ``Flights``)."""
        reqs = self.pending.get(skill.key)
        if reqs is None:
            return skill
        if isinstance(reqs, SkillExecError):
            raise DependencyError(f"skill {skill.id!r}: its requirements cannot be read: "
                                  f"{reqs.message}", code="invalid_requirements",
                                  details={"skill_id": skill.id})
        key = reqs.key
        flight = self._flights.get(key)
        if flight is None:
            failed = self._failure(key)
            if failed is not None and time.time() < failed.retry_at:
                raise unavailable(skill.id, failed)
            flight = self._flights.start(key, lambda own: self.provision(reqs, installers=own))
        try:
            await self._flights.wait(key, flight, timeout, stop=stop)
        except TimeoutError:
            raise DependencyError(
                f"skill {skill.id!r}: its environment is still being installed; the call's "
                f"timeout ({timeout:g} s) ended the wait, not the install, which goes on: "
                "call it again later", code="install_pending", retryable=True,
                details={"skill_id": skill.id, "timeout": timeout}) from None
        except DependencyError as exc:
            raise for_skill(skill.id, exc) from None
        ready = self.attach(skill)
        if self.publish is not None:
            self.publish(ready)
        return ready

    def close(self) -> None:
        """Stop the installers running now (their temporary folders go with them) and
        start no more: an engine that closes does not wait for an index."""
        self._installers.kill_all()
        self._flights.close()

    def install(self, skill: Skill, packages: Iterable[str] = (),
                remove: Iterable[str] = ()) -> EnvStatus:
        """``skillexec skills install``: forget an earlier failure and provision now, with
        ``packages`` added for this skill and ``remove`` (names) taken from what was added
        before, recorded once installed (kept across restarts; a failed install leaves the
        skill's packages as they were, and another skill's, added meanwhile by another
        process, are kept either way). One entry per package: ``aiohttp>=3`` replaces
        ``aiohttp`` (``AIOHTTP`` was kept beside it, and each spelling made another
        environment)."""
        added = [p.strip() for p in packages]
        for p in added:
            Requirement(p)  # a malformed name (or none) fails here, before it is recorded
        gone = {canonicalize_name(r.strip()) for r in remove}
        self.changed()  # as the file is now
        before = self.extras(skill.id)
        by_name = {canonicalize_name(Requirement(p).name): p for p in (*before, *added)}
        after = tuple(p for name, p in by_name.items() if name not in gone)
        # Recorded only once installed: a mistyped package would otherwise make the skill
        # unavailable for good, and a running engine would take up a set not installed.
        reqs = requirement_set(skill, after)
        try:
            if _needs_env(reqs):
                (self.root / f"{reqs.key}.failed").unlink(missing_ok=True)
                self.provision(reqs)
            if after != before:
                self._extras.record(skill.id, after)
        except OSError as exc:
            raise for_skill(skill.id, folder_error(exc, self.root)) from None
        except DependencyError as exc:
            raise for_skill(skill.id, exc) from None
        self.attach(skill)
        return self.status(skill)

    def provision(self, reqs: RequirementSet, *, installers: Installers | None = None) -> Path:
        """Build the environment of ``reqs`` unless it exists; its folder. DependencyError
        (naming no skill: the environment is every skill's with this set) when it fails.
        ``installers``: what starts the installer (a flight's own, which a stop kills)."""
        try:
            return self._provision(reqs, installers or self._installers)
        except OSError as exc:  # the folder: not this user's, read-only, full
            raise folder_error(exc, self.root) from None

    def _provision(self, reqs: RequirementSet, installers: Installers) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / reqs.key
        asked = time.time()
        with file_lock(self.root / f"{reqs.key}.lock"):
            if (final / MARKER).is_file():
                return final  # made meanwhile by another call or process
            failed = self._failure(reqs.key)
            if failed is not None and failed.at >= asked and time.time() < failed.retry_at:
                raise failure_error(failed)  # failed meanwhile in another process
            # Ours to remove, under the key's lock: a killed install's (SIGKILL, a crash).
            for stale in self.root.glob(f".tmp-{reqs.key}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{reqs.key}-", dir=self.root))
            try:
                self._build(reqs, tmp, installers)
                if final.exists():  # a folder without a marker: a crash before the rename
                    shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            (self.root / f"{reqs.key}.failed").unlink(missing_ok=True)
        return final

    def _build(self, reqs: RequirementSet, tmp: Path, installers: Installers) -> None:
        site = tmp / "site-packages"
        site.mkdir()
        started = time.monotonic()
        try:
            installer = install(reqs.requirements, site, settings=self.settings,
                                hashes=reqs.hashes, installers=installers)
        except DependencyError as exc:
            if not installers.closed:  # (stopped, or by close(): nothing to remember)
                self._remember_failure(reqs.key, exc)
            raise
        self.installs += 1
        resolved = sorted(f"{d.metadata['Name']}=={d.version}"
                          for d in importlib.metadata.distributions(path=[str(site)]))
        (tmp / MARKER).write_text(json.dumps({
            "requirements": list(reqs.requirements), "resolved": resolved,
            "sources": list(reqs.sources), "installer": installer,
            "hashes": ("checked" if installer == "uv" else "ignored") if reqs.hashes else None,
            "python": sys.version.split()[0], "executable": sys.executable,
            "install_s": round(time.monotonic() - started, 3),
            "created_at": time.time()}, indent=1), encoding="utf-8")
        _make_readable(tmp)

    # -- bookkeeping --------------------------------------------------------------------------

    def _failure(self, key: str) -> Failure | None:
        return read_failure(self.root / f"{key}.failed", self.settings)

    def _remember_failure(self, key: str, exc: DependencyError) -> None:
        transient = bool(exc.details.get("transient"))
        before = self._failure(key)
        attempts = before.attempts + 1 if before and before.transient and transient else 1
        try:
            Failure(exc.message, transient, settings_mark(self.settings), time.time(),
                    attempts).write(self.root / f"{key}.failed")
        except OSError:
            pass  # remembered or not, this call says it


def _needs_env(reqs: RequirementSet) -> bool:
    """Whether some requirement is not met by the engine's own interpreter."""
    return any(not _satisfied_here(r) for r in reqs.requirements)


def _satisfied_here(text: str) -> bool:
    req = Requirement(text)
    if req.extras:
        return False  # an extra's packages are not recorded with the distribution
    try:
        installed = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    if not req.specifier:
        return True
    try:
        return req.specifier.contains(Version(installed), prereleases=True)
    except InvalidVersion:
        return False


def _marker(folder: Path) -> dict[str, object]:
    try:
        raw = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _make_readable(folder: Path) -> None:
    """Readable (and searchable) by everyone, writable by its owner only: the sandbox's
    user reads the packages, nothing but the engine changes them."""
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)  # noqa: S103 - read by the sandbox
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, 0o755 if mode & 0o100 else 0o644)
    os.chmod(folder, 0o755)  # noqa: S103 - as above
