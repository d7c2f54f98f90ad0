"""A user with no writable HOME installs a skill's packages all the same.

As ``nobody`` (HOME=/nonexistent) every environment install failed in uv's cache:
"failed to create directory `/nonexistent/.cache/uv`: Permission denied", recorded as
the skill's failure. The installer then uses a cache beside the environments.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests._wheels import make_wheel


def test_an_install_without_a_usable_home_cache_works(tmp_path: Path) -> None:
    links = tmp_path / "wheels"
    make_wheel(links, "tinydep", "1.0.0", "X = 1\n", module="tinydep")
    folder = tmp_path / "skills" / "needs"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: needs\ndescription: N.\n---\nRun it.\n")
    (folder / "requirements.txt").write_text("tinydep==1.0.0\n")
    (folder / "scripts" / "go.py").write_text("import tinydep\nprint(tinydep.X)\n")
    (tmp_path / "skillexec.toml").write_text(
        f'[environments]\nfind_links = ["{links}"]\nno_index = true\n')
    # No HOME to write under, whoever runs this (root too: /dev/null is no folder).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SKILLEXEC_", "UV_", "PIP_", "XDG_"))}
    env["HOME"] = "/dev/null"
    p = subprocess.run([sys.executable, "-m", "skillexec", "skills", "install", "needs",
                        "--skills-dir", str(tmp_path / "skills"),
                        "--data-dir", str(tmp_path / "data")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "failed to create directory" not in p.stderr
    assert (tmp_path / "data" / "envs" / ".cache").is_dir()
