"""Fixtures for the QEMU guest tests (marked ``vm``).

* ``systemd_image``, ``sysv_image``, ``redhat_image``, ``dbus_image`` (Debian 12; the
  last with the system bus, as most servers run it), ``trixie_image``
  (Debian 13, systemd 257), ``debpkg_image`` (Debian 12 with man-db, for the Debian
  package), ``grub_image`` (Debian 12 booted through its own grub.cfg and grubenv,
  firmware ``grub-menu``): session-scoped cached images (built with mmdebstrap on first
  use, ~40-80 s each).
* Before the first test, the images the selected tests need and the cache lacks are built
  two at a time (``pytest_collection_finish``): a build is mostly downloads and dpkg, so
  two overlap well on two cores, and no guest runs yet.
* ``project_disk``: the working tree's ``src/`` on a small ext4 disk, built once per
  session; guests mount it read-only at ``/opt/fastreboot``.
* ``guest_factory``: starts :class:`harness.Guest` objects in the test's tmp dir and
  always stops them; when the test fails their logs are copied to
  ``artifacts/<test name>/<guest name>/`` at the repository root.

Without ``qemu-system-x86_64``/``qemu-img``/``mmdebstrap``/``mkfs.ext4`` the tests are
skipped, except when ``CI=true``: there they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `harness` lives at the repository root
    sys.path.insert(0, str(REPO_ROOT))

from harness import (  # noqa: E402
    VARIANTS,
    Guest,
    GuestFactory,
    GuestImage,
    build_image,
    build_project_disk,
)
from harness.images import image_entry  # noqa: E402

ARTIFACTS = REPO_ROOT / "artifacts"
REQUIRED_TOOLS = ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "mkfs.ext4")
_VM_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/vm boots guests: mark it vm even if a test forgot to.
    for item in items:
        if _VM_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.vm)


#: Each image fixture, by its name, and the variant it builds.
IMAGE_FIXTURES = {f"{variant}_image": variant for variant in VARIANTS}
PARALLEL_BUILDS = 2


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the missing images of the selected VM tests, two at a time, before any guest
    starts; a build that fails here fails again, with its log, in the fixture that needs it."""
    wanted = {
        IMAGE_FIXTURES[name]
        for item in session.items
        if item.get_closest_marker("vm")
        for name in getattr(item, "fixturenames", ())
        if name in IMAGE_FIXTURES
    }
    missing = sorted(v for v in wanted if not (image_entry(v) / "meta.json").is_file())
    if len(missing) < 2 or any(shutil.which(tool) is None for tool in REQUIRED_TOOLS):
        return
    print(f"\n[vm] building {len(missing)} images, {PARALLEL_BUILDS} at a time: "
          f"{', '.join(missing)}", flush=True)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=PARALLEL_BUILDS) as pool:
        futures = {pool.submit(build_image, variant): variant for variant in missing}
        for future in as_completed(futures):
            if future.exception() is not None:
                print(f"[vm] {futures[future]} image failed: {future.exception()}", flush=True)
    print(f"[vm] images built in {time.monotonic() - t0:.0f}s", flush=True)


_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    return report


def _require_tools() -> None:
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    msg = f"VM tests need {', '.join(missing)} (apt-get install qemu-system-x86 qemu-utils " \
          "mmdebstrap e2fsprogs)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def vm_tools() -> None:
    _require_tools()


def _image(variant: str) -> GuestImage:
    _require_tools()
    t0 = time.monotonic()
    image = build_image(variant)
    took = time.monotonic() - t0
    built = image.meta.get("build_seconds", {}).get("total")
    print(f"\n[vm] {variant} image: {image.disk.parent} "
          f"(fixture {took:.1f}s; built once in {built}s)")
    return image


@pytest.fixture(scope="session")
def systemd_image() -> GuestImage:
    return _image("systemd")


@pytest.fixture(scope="session")
def sysv_image() -> GuestImage:
    return _image("sysv")


@pytest.fixture(scope="session")
def redhat_image() -> GuestImage:
    return _image("redhat")


@pytest.fixture(scope="session")
def trixie_image() -> GuestImage:
    return _image("trixie")


@pytest.fixture(scope="session")
def dbus_image() -> GuestImage:
    return _image("dbus")


@pytest.fixture(scope="session")
def debpkg_image() -> GuestImage:
    return _image("debpkg")


@pytest.fixture(scope="session")
def kdump_image() -> GuestImage:
    return _image("kdump")


@pytest.fixture(scope="session")
def grub_image() -> GuestImage:
    return _image("grub")


@pytest.fixture(scope="session")
def grubsysv_image() -> GuestImage:
    return _image("grubsysv")


@pytest.fixture(scope="session")
def ssh_image() -> GuestImage:
    return _image("ssh")


@pytest.fixture(scope="session")
def trixiessh_image() -> GuestImage:
    return _image("trixiessh")


@pytest.fixture(scope="session")
def project_disk(tmp_path_factory: pytest.TempPathFactory, vm_tools: None) -> Path:
    return build_project_disk(tmp_path_factory.mktemp("project") / "project.img")


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1]).strip("_")[:120]


@pytest.fixture
def guest_factory(
    request: pytest.FixtureRequest, tmp_path: Path, project_disk: Path
) -> Iterator[GuestFactory]:
    guests: list[Guest] = []

    def make(
        image: GuestImage, *, name: str = "guest", start: bool = True, **kwargs: Any
    ) -> Guest:
        if any(g.name == name for g in guests):
            raise ValueError(f"guest name {name!r} used twice in one test")
        guest = Guest(image, tmp_path / name, name=name, project_disk=project_disk, **kwargs)
        guests.append(guest)
        if start:
            guest.start()
        return guest

    try:
        yield make
    finally:
        for guest in guests:
            guest.stop()
        reports = request.node.stash.get(_reports_key, {})
        if any(r.failed for r in reports.values()):
            dest_root = ARTIFACTS / _safe_name(request.node.nodeid)
            for guest in guests:
                _copy_artifacts(guest, dest_root / guest.name)
            print(f"\n[vm] guest logs copied to {dest_root}")


def _copy_artifacts(guest: Guest, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in (guest.console_log, guest.timed_log, guest.qemu_log, guest.events_log,
                 guest.workdir / "qemu-cmdline.txt"):
        if path.exists():
            shutil.copy2(path, dest / path.name)


@pytest.fixture
def timings() -> Iterator[Callable[[str, float], None]]:
    """Record named durations; printed at the end of the test (visible with -s)."""
    seen: list[tuple[str, float]] = []
    yield lambda label, seconds: seen.append((label, seconds))
    for label, seconds in seen:
        print(f"[vm timing] {label}: {seconds:.1f}s")
