"""Guest disk images for the fastreboot VM tests, built from Debian packages.

Every image is made by ``mmdebstrap`` (``--variant=minbase``; Debian 12 "bookworm" for
``systemd``, ``sysv``, ``redhat`` and ``dbus`` (systemd with the system bus), Debian 13
"trixie" for ``trixie``) from Debian's package mirror only, then packed with
``mkfs.ext4 -d`` into a raw, sparse ext4 image without any root mount.  Images are cached
outside the repository under
``~/.cache/fastreboot/images/<variant>-<sha256(recipe)[:16]>/`` (``$FASTREBOOT_CACHE_DIR``
or ``$XDG_CACHE_HOME`` move it); the recipe is the exact mmdebstrap argument list, the
hook scripts and :data:`IMAGE_CODE_VERSION`, so any change to them builds a new image.
A build goes into a temporary directory beside the cache entry, guarded by a lock file,
and is renamed into place only when complete.

Each cache entry holds ``rootfs.img`` (never written by tests: guests boot a qcow2
overlay), a host copy of the *older* kernel and its initrd for QEMU's direct
``-kernel``/``-initrd`` boot, and ``meta.json``.

The fastreboot project itself is not in the image: the image has a wrapper
``/usr/local/bin/fastreboot`` (like pip's console script) that runs ``fastreboot.cli``
from ``/opt/fastreboot/src``, where a small second disk (``/dev/vdb``) built from the working
tree by :func:`build_project_disk` is mounted read-only.
"""

from __future__ import annotations

import atexit
import compileall
import fcntl
import hashlib
import json
import os
import py_compile
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Bump when the image-building code changes in a way the recipe text does not show.
IMAGE_CODE_VERSION = "fastreboot-harness-images/2"

VARIANTS = ("systemd", "sysv", "redhat", "trixie", "dbus", "ssh", "debpkg", "kdump",
            "trixiessh", "grub", "grubsysv")


@dataclass(frozen=True)
class _Release:
    """A Debian release the guests are built from, with the two kernels they carry."""

    suite: str
    old_version: str  # the kernel QEMU boots directly
    new_version: str  # the "default" one (/vmlinuz, the newest)
    old_package: str
    new_package: str


BOOKWORM = _Release(
    suite="bookworm",
    old_version="6.1.0-47-cloud-amd64",
    new_version="6.1.0-56-cloud-amd64",
    old_package="linux-image-6.1.0-47-cloud-amd64",
    new_package="linux-image-6.1.0-56-cloud-amd64-unsigned",
)
#: Debian 13: systemd 257 (`systemctl reboot` kexecs a loaded kernel), kexec-tools 2.0.29
#: (no init scripts and no LOAD_KEXEC any more: `kexec-load-kernel`, then `reboot`).
TRIXIE = _Release(
    suite="trixie",
    old_version="6.12.111+deb13-cloud-amd64",
    new_version="6.12.118+deb13-cloud-amd64",
    old_package="linux-image-6.12.111+deb13-cloud-amd64",
    new_package="linux-image-6.12.118+deb13-cloud-amd64",
)
_RELEASES = {
    "systemd": BOOKWORM, "sysv": BOOKWORM, "redhat": BOOKWORM, "trixie": TRIXIE, "dbus": BOOKWORM,
    "ssh": BOOKWORM,
    "debpkg": BOOKWORM,
    "kdump": BOOKWORM,
    "trixiessh": TRIXIE,
    "grub": BOOKWORM,
    "grubsysv": BOOKWORM,
}

#: The bookworm variants' older kernel (the one QEMU boots directly) and newer one.
OLD_KERNEL_VERSION = BOOKWORM.old_version
NEW_KERNEL_VERSION = BOOKWORM.new_version

#: Variants with a Debian-shaped /boot/grub (grub.cfg, grubenv) for firmware="grub-menu".
GRUB_MENU_VARIANTS = ("grub", "grubsysv")

ROOT_ARG = "root=/dev/vda"
#: What follows root= on every guest's kernel command line (QEMU -append, BLS entries).
CMDLINE_OPTIONS = "ro console=ttyS0,115200 loglevel=4"
KERNEL_CMDLINE = f"{ROOT_ARG} {CMDLINE_OPTIONS}"

ROOTFS_SIZE = "3G"
PROJECT_DISK_SIZE = "64M"
ROOT_LABEL = "fr-root"
PROJECT_LABEL = "fr-project"

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Shell fragments making up the mmdebstrap customize hook (part of the recipe).
HOOKS_DIR = Path(__file__).resolve().parent / "hooks"

_COMMON_PACKAGES = (
    "kexec-tools",
    "python3",
    "initramfs-tools",
    "udev",
    "kmod",
    "procps",
    "e2fsprogs",
)
_INIT_PACKAGES = {
    "systemd": ("systemd-sysv",),
    "sysv": ("sysvinit-core",),
    "redhat": ("systemd-sysv",),
    # With the system bus, as on any Debian 13 server (systemd recommends dbus): from
    # systemd 254 on `systemctl reboot` kexecs a loaded kernel, but only through logind.
    "trixie": ("systemd-sysv", "dbus"),
    # Debian 12 as most servers run it, with the system bus: systemctl then asks logind.
    # The plain "systemd" variant has no bus, so its timings stay comparable run to run.
    "dbus": ("systemd-sysv", "dbus"),
    # Reached by Ansible over SSH (QEMU's user network, a loopback port per guest).
    "ssh": ("systemd-sysv", "openssh-server"),
    # Debian 13 reached by Ansible (systemd 257: soft reboots, SoftRebootsCount).
    "trixiessh": ("systemd-sysv", "dbus", "openssh-server"),
    # Debian 12 for the Debian package (tests/vm/test_debian_package.py): what it depends
    # on is in every image; man-db and bash-completion show its man page and completion.
    "debpkg": ("systemd-sysv", "man-db", "bash-completion"),
    # Debian 12 for kdump (tests/vm/test_kdump.py): the capture boot saves with makedumpfile.
    "kdump": ("systemd-sysv", "makedumpfile"),
    # Booted by GRUB from the guest's own /boot/grub/grub.cfg and grubenv (firmware
    # "grub-menu"), for the way back after a failed fast reboot; grub-editenv is in
    # grub-common (no grub-pc: its postinst would install GRUB on a disk).
    "grub": ("systemd-sysv", "grub-common"),
    "grubsysv": ("sysvinit-core", "grub-common"),
}

# Keep the images small (and mkfs fast): no manuals (but in "debpkg"), docs or translations.
_NO_MAN = "path-exclude=/usr/share/man/*"
_DPKG_OPTS = (
    _NO_MAN,
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)

# Debian's kexec-tools defaults to LOAD_KEXEC=true (debconf); images start with false and
# the tests turn it on themselves when they need it.
_ESSENTIAL_HOOK = (
    "echo 'kexec-tools kexec-tools/load_kexec boolean false' "
    '| chroot "$1" debconf-set-selections'
)


def _log(msg: str) -> None:
    print(f"[harness.images] {msg}", file=sys.stderr, flush=True)


def _machine_id(variant: str) -> str:
    return hashlib.sha256(f"fastreboot-machine-id-{variant}".encode()).hexdigest()[:32]


def _root_uuid(variant: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fastreboot-rootfs-{variant}"))


def _hook_script(variant: str) -> str:
    release = _RELEASES[variant]
    header = "\n".join(
        [
            "#!/bin/sh",
            f"# fastreboot image customize hook ({IMAGE_CODE_VERSION})",
            "set -eu",
            f"VARIANT={shlex.quote(variant)}",
            f"OLD={shlex.quote(release.old_version)}",
            f"NEW={shlex.quote(release.new_version)}",
            f"MACHINE_ID={shlex.quote(_machine_id(variant))}",
            f"CMDLINE={shlex.quote(KERNEL_CMDLINE)}",
        ]
    )
    if variant in GRUB_MENU_VARIANTS:
        header += f"\nROOT_UUID={shlex.quote(_root_uuid(variant))}"
    fragments = ["common"]
    fragments += {
        "systemd": ["systemd"],
        "sysv": ["sysv"],
        "redhat": ["systemd", "redhat"],
        "trixie": ["systemd", "trixie"],
        "dbus": ["systemd"],
        "ssh": ["systemd", "ssh"],
        "debpkg": ["systemd", "debpkg"],
        "kdump": ["systemd"],
        "trixiessh": ["systemd", "trixie", "ssh"],
        "grub": ["systemd", "grub"],
        "grubsysv": ["sysv", "grub"],
    }[variant]
    fragments.append("tail")
    parts = [header] + [(HOOKS_DIR / f"{f}.sh").read_text() for f in fragments]
    return "\n".join(parts)


@dataclass(frozen=True)
class _Recipe:
    variant: str
    args: tuple[str, ...]  # mmdebstrap argv with {HOOK} and {ROOT} placeholders
    hook: str

    @property
    def digest(self) -> str:
        blob = json.dumps(
            {"version": IMAGE_CODE_VERSION, "args": list(self.args), "hook": self.hook,
             "mkfs": ["mkfs.ext4", ROOTFS_SIZE, ROOT_LABEL, _root_uuid(self.variant)]},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def argv(self, hook_path: Path, root: Path) -> list[str]:
        return [
            a.replace("{HOOK}", shlex.quote(str(hook_path))).replace("{ROOT}", str(root))
            for a in self.args
        ]


def _recipe(variant: str) -> _Recipe:
    if variant not in VARIANTS:
        raise ValueError(f"unknown image variant {variant!r}; expected one of {VARIANTS}")
    release = _RELEASES[variant]
    packages = (
        *_INIT_PACKAGES[variant], *_COMMON_PACKAGES, release.old_package, release.new_package
    )
    args = [
        "mmdebstrap",
        "--variant=minbase",
        "--include=" + ",".join(packages),
        *(f"--dpkgopt={o}" for o in _DPKG_OPTS if variant != "debpkg" or o != _NO_MAN),
        "--essential-hook=" + _ESSENTIAL_HOOK,
        '--customize-hook=sh {HOOK} "$1"',
        release.suite,
        "{ROOT}",
    ]
    return _Recipe(variant=variant, args=tuple(args), hook=_hook_script(variant))


# --------------------------------------------------------------------------------------
# Cache handling
# --------------------------------------------------------------------------------------


def cache_root() -> Path:
    """Directory holding the cached images (created on demand)."""
    env = os.environ.get("FASTREBOOT_CACHE_DIR")
    if env:
        base = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "fastreboot"
    root = base / "images"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def _file_lock(path: Path, timeout: float = 1200.0) -> Iterator[None]:
    """Exclusive flock on *path*, waiting at most *timeout* seconds."""
    with open(path, "a+") as fh:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {path} within {timeout:.0f}s") from None
                if not announced:
                    _log(f"waiting for another process building {path.stem} ...")
                    announced = True
                time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class GuestImage:
    variant: str  # "systemd" | "sysv" | "redhat"
    disk: Path  # cached base raw image (never written: tests use qcow2 overlays)
    boot_kernel: Path  # host copy of the older kernel, for -kernel
    boot_initrd: Path  # host copy of its initrd, for -initrd
    old_version: str  # e.g. "6.1.0-47-cloud-amd64"
    new_version: str  # e.g. "6.1.0-56-cloud-amd64"
    root_arg: str  # e.g. "root=/dev/vda" (what -append must say)

    @property
    def meta(self) -> dict[str, Any]:
        """The image's meta.json (build time, package versions, recipe digest, ...)."""
        data: dict[str, Any] = json.loads((self.disk.parent / "meta.json").read_text())
        return data


def _load(entry: Path) -> GuestImage:
    meta = json.loads((entry / "meta.json").read_text())
    return GuestImage(
        variant=meta["variant"],
        disk=entry / "rootfs.img",
        boot_kernel=entry / meta["boot_kernel"],
        boot_initrd=entry / meta["boot_initrd"],
        old_version=meta["old_version"],
        new_version=meta["new_version"],
        root_arg=meta["root_arg"],
    )


def image_entry(variant: str) -> Path:
    """Cache directory the current recipe of *variant* is (or would be) stored in."""
    return cache_root() / f"{variant}-{_recipe(variant).digest[:16]}"


def build_image(variant: str) -> GuestImage:
    """Return the cached image for *variant*, building it first when needed."""
    entry = image_entry(variant)
    if (entry / "meta.json").is_file():
        return _load(entry)
    with _file_lock(entry.parent / f"{entry.name}.lock"):
        if (entry / "meta.json").is_file():  # built by someone else meanwhile
            return _load(entry)
        for stale in entry.parent.glob(f".build-{entry.name}-*"):
            _log(f"removing stale build directory {stale}")
            shutil.rmtree(stale, ignore_errors=True)
        if entry.exists():  # incomplete entry (no meta.json): never trust it
            shutil.rmtree(entry)
        tmp = entry.parent / f".build-{entry.name}-{os.getpid()}"
        tmp.mkdir()
        try:
            _build_into(_recipe(variant), tmp)
            os.rename(tmp, entry)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return _load(entry)


def _run_logged(argv: list[str], log: Path, prefix: str) -> None:
    """Run *argv*, streaming its output to stderr (prefixed) and to *log*."""
    with open(log, "ab") as logfh:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            logfh.write(raw)
            sys.stderr.write(f"{prefix}{raw.decode(errors='replace')}")
        sys.stderr.flush()
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"{argv[0]} failed with exit code {rc}; log: {log}")


def _read_kv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _package_versions(root: Path, names: list[str]) -> dict[str, str]:
    proc = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Package} ${Version}\\n",
         *names],
        capture_output=True, text=True, check=False,
    )
    versions: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        name, _, version = line.partition(" ")
        if version:
            versions[name] = version
    return versions


def _build_into(recipe: _Recipe, out: Path) -> None:
    variant = recipe.variant
    t0 = time.monotonic()
    _log(f"building {variant} image in {out} (recipe {recipe.digest[:16]})")
    hook = out / "customize.sh"
    hook.write_text(recipe.hook)
    root = out / "root"
    log = out / "build.log"
    _run_logged(recipe.argv(hook, root), log, f"[mmdebstrap:{variant}] ")
    t_strap = time.monotonic() - t0

    # mmdebstrap empties /etc/machine-id after the hooks; the BLS entries of the redhat
    # variant are named after it, and a fixed id avoids systemd's first-boot mode.
    (root / "etc/machine-id").write_text(_machine_id(variant) + "\n")
    info = _read_kv(root / "etc/fastreboot-image")
    release = _RELEASES[variant]
    old, new = release.old_version, release.new_version
    initrd_name = f"initramfs-{old}.img" if variant == "redhat" else f"initrd.img-{old}"
    shutil.copy2(root / "boot" / f"vmlinuz-{old}", out / f"vmlinuz-{old}")
    shutil.copy2(root / "boot" / initrd_name, out / initrd_name)
    versions = _package_versions(
        root,
        ["kexec-tools", "systemd", "sysvinit-core", "python3", "initramfs-tools",
         release.old_package, release.new_package],
    )

    _log(f"{variant}: mmdebstrap done in {t_strap:.1f}s, making ext4 image")
    t1 = time.monotonic()
    disk = out / "rootfs.img"
    root_uuid = _root_uuid(variant)
    _run_logged(
        ["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-U", root_uuid,
         "-E", f"hash_seed={root_uuid}", "-d", str(root), str(disk), ROOTFS_SIZE],
        log, f"[mkfs:{variant}] ",
    )
    disk.chmod(0o444)
    t_mkfs = time.monotonic() - t1
    shutil.rmtree(root)

    meta = {
        "variant": variant,
        "recipe_digest": recipe.digest,
        "image_code_version": IMAGE_CODE_VERSION,
        "suite": release.suite,
        "old_version": old,
        "new_version": new,
        "root_arg": ROOT_ARG,
        "kernel_cmdline": KERNEL_CMDLINE,
        "boot_kernel": f"vmlinuz-{old}",
        "boot_initrd": initrd_name,
        "root_uuid": root_uuid,
        "root_label": ROOT_LABEL,
        "machine_id": _machine_id(variant),
        "packages": versions,
        "debian_symlinks_before_fix": {
            "/vmlinuz": info.get("ORIG_VMLINUZ", ""),
            "/initrd.img": info.get("ORIG_INITRD", ""),
        },
        "load_kexec_after_install": info.get("ORIG_LOAD_KEXEC", ""),
        "build_seconds": {"mmdebstrap": round(t_strap, 1), "mkfs": round(t_mkfs, 1),
                          "total": round(time.monotonic() - t0, 1)},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mmdebstrap_args": list(recipe.args),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    _log(f"{variant}: image ready in {time.monotonic() - t0:.1f}s "
         f"(mmdebstrap {t_strap:.1f}s, mkfs {t_mkfs:.1f}s)")


# --------------------------------------------------------------------------------------
# Project disk (the working tree's src/, mounted read-only at /opt/fastreboot)
# --------------------------------------------------------------------------------------


def build_project_disk(dest: Path, src: Path | None = None, *, bytecode: bool = True) -> Path:
    """Make ``dest`` (a raw ext4 image) holding a copy of *src* (default: the repo's src/)
    as ``/src`` plus ``/MANIFEST`` (the copied files, one a line); the guests mount it
    read-only at ``/opt/fastreboot``.

    With *bytecode* (the default) the copy is byte-compiled first, as a pip or Debian
    install would be: the guests cannot write ``__pycache__`` on the read-only disk, so
    without it every ``fastreboot`` run compiles every module it imports again (0.3-0.5 s
    per run in a TCG guest; see bench/README.md).  The ``.pyc`` files are checked against
    the source's mtime and size, as pip and Debian's py3compile write them (a hash-checked
    ``.pyc`` makes every import read and hash its source too: ~0.1 s more of a cold start
    in a TCG guest); ``mkfs.ext4 -d`` keeps the copied files' mtimes.  Only a Python of the
    host's minor version uses them (the guests' Debian 12 has 3.11; other versions simply
    ignore them)."""
    src = src if src is not None else REPO_ROOT / "src"
    if not src.is_dir():
        raise FileNotFoundError(f"project source directory {src} does not exist")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastreboot-project-stage-") as stage:
        shutil.copytree(
            src, Path(stage) / "src",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
        if bytecode and not compileall.compile_dir(
            Path(stage) / "src", quiet=1, workers=1,
            invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
        ):
            raise RuntimeError(f"byte-compiling {src} failed")
        files = sorted(
            str(p.relative_to(stage)) for p in Path(stage, "src").rglob("*") if p.is_file()
        )
        (Path(stage) / "MANIFEST").write_text("".join(f"{f}\n" for f in files))
        if dest.exists():
            dest.unlink()
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-L", PROJECT_LABEL, "-d", stage, str(dest),
             PROJECT_DISK_SIZE],
            check=True, stdin=subprocess.DEVNULL,
        )
    return dest


_session_disk: Path | None = None
_session_lock = threading.Lock()


def session_project_disk() -> Path:
    """The project disk of this process, built from the working tree on first use."""
    global _session_disk  # noqa: PLW0603
    with _session_lock:
        if _session_disk is None or not _session_disk.exists():
            tmpdir = Path(tempfile.mkdtemp(prefix="fastreboot-project-"))
            atexit.register(shutil.rmtree, tmpdir, True)
            _session_disk = build_project_disk(tmpdir / "project.img")
        return _session_disk


def prune_cache() -> list[Path]:
    """Delete cache entries (and stale build dirs) that the current recipes no longer
    name; returns what was removed.  Entries being built right now are left alone."""
    current = {image_entry(v).name for v in VARIANTS}
    removed: list[Path] = []
    for path in sorted(cache_root().iterdir()):
        name = path.name.removeprefix(".build-").rsplit("-", 1)[0] if path.name.startswith(
            ".build-") else path.name.removesuffix(".lock")
        if name in current or not any(name.startswith(f"{v}-") for v in VARIANTS):
            continue
        lock = cache_root() / f"{name}.lock"
        with open(lock, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being built
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def main(argv: list[str] | None = None) -> int:
    """``python -m harness [--prune] [VARIANT ...]``: build (or show) cached
    images; ``--prune`` first deletes entries of older recipes."""
    args = list(argv if argv is not None else sys.argv[1:])
    if "--prune" in args:
        args.remove("--prune")
        for path in prune_cache():
            print(f"removed {path}")
    variants = args or list(VARIANTS)
    for variant in variants:
        t0 = time.monotonic()
        image = build_image(variant)
        print(f"{variant}: {image.disk.parent} ({time.monotonic() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
