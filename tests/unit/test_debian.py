"""The Debian package builds from this tree and lintian finds no error in it.

It builds in a temporary copy of the tree (no build output lands in the repository), as
any user (Rules-Requires-Root: no). Without the build tools the test is skipped, except
when CI=true: there it fails (.ci/install installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("dpkg-buildpackage", "dh", "lintian", "git")
# Debian's own Python and tools, not a virtual environment's or pyenv's python3 first.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def require_build_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool, path=SYSTEM_PATH) is None]
    build_deps = (
        subprocess.run(
            ["dpkg-checkbuilddeps", str(REPO / "debian/control")],
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": SYSTEM_PATH},
            check=False,
        )
        if not missing
        else None
    )
    if build_deps is not None and build_deps.returncode != 0:
        missing.append(build_deps.stderr.strip())
    if not missing:
        return
    msg = f"building the .deb needs {', '.join(missing)} (.ci/install installs them)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def build_deb(dest: Path) -> Path:
    """Build the package from the files git knows (committed or not), into *dest*."""
    tree = dest / "fastreboot"
    tree.mkdir(parents=True)
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            target = tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target)
    env = {**os.environ, "PATH": SYSTEM_PATH}
    env.pop("PYTHONPATH", None)
    built = subprocess.run(
        ["dpkg-buildpackage", "-us", "-uc", "-b"],
        cwd=tree,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (deb,) = dest.glob("fastreboot_*_all.deb")
    return deb


def test_the_package_builds_and_lintian_finds_no_error(tmp_path: Path) -> None:
    require_build_tools()
    deb = build_deb(tmp_path)
    (changes,) = tmp_path.glob("fastreboot_*.changes")
    lint = subprocess.run(
        ["lintian", "--no-tag-display-limit", str(changes)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": SYSTEM_PATH},
        check=False,
    )
    errors = [line for line in lint.stdout.splitlines() if line.startswith("E:")]
    assert not errors, lint.stdout
    contents = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    for path in (
        "./usr/sbin/fastreboot",
        "./usr/lib/python3/dist-packages/fastreboot/cli/main.py",
        "./lib/systemd/system/fastreboot-auto-load.service",
        "./lib/systemd/system-shutdown/fastreboot",
        "./etc/fastreboot.toml",
        "./usr/share/man/man8/fastreboot.8.gz",
        "./usr/share/man/man5/fastreboot.toml.5.gz",
        "./usr/share/bash-completion/completions/fastreboot",
    ):
        assert f" {path}" in contents, path
    conffiles = subprocess.run(
        ["dpkg-deb", "--info", str(deb), "conffiles"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "/etc/fastreboot.toml" in conffiles
