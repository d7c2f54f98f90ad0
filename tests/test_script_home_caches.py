"""What tools keep in a script's HOME is not its output.

A script's HOME is its workspace. After ``npx``, trialA's task listed ``.npm/_cacache/...``,
``.npm/_logs/...`` and ``.npm/_update-notifier-last-checked`` among its artifacts: only
``.cache``, ``.config`` and ``.local`` were left out. The caches package managers and build
tools keep in HOME (npm's, yarn's, pnpm's, Gradle's, Maven's, Cargo's, ...) are left out
too; a folder of the same name deeper in the workspace (a project's own) is not HOME's.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import arun

_CACHES = (".npm/_cacache/index-v5/ab/cd", ".npm/_logs/2026-debug-0.log",
           ".npm/_update-notifier-last-checked", ".yarn/berry/cache/x.zip",
           ".pnpm-store/v3/files/00/ab", ".gradle/caches/modules-2/x.jar",
           ".m2/repository/org/x.pom", ".cargo/registry/index/x", ".rustup/settings.toml",
           ".node-gyp/20.0.0/include/node.h", ".bun/install/cache/x", ".deno/gen/x",
           ".ivy2/cache/x", ".sbt/boot/x", ".nuget/packages/x", ".gem/specs/x",
           ".cpanm/build.log", ".conda/pkgs/x", ".keras/keras.json", ".u2net/u2net.onnx",
           ".ipython/profile_default/history.sqlite", ".jupyter/migrated")


def test_tool_caches_in_home_are_not_artifacts(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "build"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: build\ndescription: B.\n---\nRun it.\n")
    (folder / "scripts" / "build.py").write_text(
        "import os\n"
        f"for rel in {list(_CACHES)!r} + ['proj/.gradle/kept.bin']:\n"
        "    path = os.path.join(os.environ['HOME'], rel)\n"
        "    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "    open(path, 'w').write('cached')\n"
        "open('out.txt', 'w').write('made')\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> list[str]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("build", "scripts/build.py")
            assert r.ok, r.error
            return sorted(a.name for a in r.artifacts)
    assert arun(go()) == ["out.txt", "proj/.gradle/kept.bin"]
