"""Who hashes a kexec image faster on this host's CPU: kexec-tools or the kernel.

Both load calls make purgatory check a SHA-256 of every segment before the new kernel runs.
For ``kexec_load`` kexec-tools computes it at load time with its own plain-C
``util_lib/sha256.c``; for ``kexec_file_load`` the kernel does, with the CPU's SHA-256
instructions (SHA-NI, AVX2). fastreboot's choice between the calls rests on this, so:

- kexec-tools' ``sha256.c``, from Debian's source tarball, compiled with ``-O2`` as Debian
  builds it, timed over the bytes the test guest hashes;
- the same bytes through OpenSSL (``hashlib``), which uses SHA-NI where the CPU has it, as
  the kernel's sha256-ni does. The kernel's own code cannot be timed without loading a
  kernel, which this host must never do.

``python3 -m bench.hash_speed`` writes ``bench/results/hash_speed.json``. Needs gcc and
deb.debian.org.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.downtime import RESULTS

KEXEC_TOOLS = "2.0.25"  # Debian 12's; sha256.c has not changed since long before
TARBALL_URL = (
    "http://deb.debian.org/debian/pool/main/k/kexec-tools/"
    f"kexec-tools_{KEXEC_TOOLS}.orig.tar.xz"
)
CACHE = Path(os.environ.get("FASTREBOOT_CACHE_DIR", Path.home() / ".cache/fastreboot"))
RUNS = 5

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sha256.h"
int main(int argc, char **argv) {
    size_t n = strtoull(argv[1], 0, 10);
    unsigned char *buf = malloc(n), digest[32];
    sha256_context ctx;
    struct timespec a, b;
    memset(buf, 0x5a, n);
    clock_gettime(CLOCK_MONOTONIC, &a);
    sha256_starts(&ctx);
    sha256_update(&ctx, buf, n);
    sha256_finish(&ctx, digest);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.6f %02x\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, digest[0]);
    return 0;
}
"""


def guest_bytes(workdir: Path) -> tuple[int, str]:
    """What kexec hashes for the test guest's new kernel: the kernel segment is as large as
    the bzImage's init_size (decompression room, hashed as zeros), then the initrd. Both
    files are read out of the cached image with debugfs (no mount)."""
    from harness import build_image

    image = build_image("systemd")
    sizes = {}
    for name in (f"vmlinuz-{image.new_version}", f"initrd.img-{image.new_version}"):
        subprocess.run(["debugfs", "-R", f"dump /boot/{name} {workdir / name}", str(image.disk)],
                       check=True, capture_output=True)
        sizes[name] = (workdir / name).stat().st_size
    kernel = (workdir / f"vmlinuz-{image.new_version}").read_bytes()
    init_size = struct.unpack_from("<I", kernel, 0x260)[0]
    size = max(init_size, len(kernel)) + sizes[f"initrd.img-{image.new_version}"]
    return size, f"{image.new_version}: kernel init_size {init_size}, files {sizes}"


def build_sha256(workdir: Path) -> Path:
    tarball = CACHE / f"kexec-tools_{KEXEC_TOOLS}.orig.tar.xz"
    if not tarball.exists():
        tarball.parent.mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(TARBALL_URL, tarball)  # noqa: S310 (a constant http URL)
    wanted = ("util_lib/sha256.c", "util_lib/include/sha256.h")
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.name.split("/", 1)[-1] in wanted:
                source = tar.extractfile(member)
                assert source is not None
                (workdir / Path(member.name).name).write_bytes(source.read())
    (workdir / "driver.c").write_text(DRIVER)
    binary = workdir / "sha256-kexec-tools"
    subprocess.run(["gcc", "-O2", "-fno-strict-aliasing", "-I", str(workdir), "-o", str(binary),
                    str(workdir / "driver.c"), str(workdir / "sha256.c")], check=True)
    return binary


def cpu() -> dict[str, Any]:
    text = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return {"model": model, "sha_ni": "sha_ni" in flags, "avx2": "avx2" in flags}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fastreboot-sha256-") as tmp:
        size, what = guest_bytes(Path(tmp))
        binary = build_sha256(Path(tmp))
        plain_c = [float(subprocess.run([str(binary), str(size)], capture_output=True,
                                        text=True, check=True).stdout.split()[0])
                   for _ in range(RUNS)]
    data = bytes(size)
    openssl = []
    for _ in range(RUNS):
        start = time.perf_counter()
        hashlib.sha256(data).digest()
        openssl.append(time.perf_counter() - start)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu(),
        "bytes": size,
        "bytes_are": what,
        "kexec-tools sha256.c (kexec_load), s": [round(t, 4) for t in plain_c],
        "OpenSSL sha256 (SIMD, as the kernel's for kexec_file_load), s":
            [round(t, 4) for t in openssl],
        "medians": {"kexec-tools": round(statistics.median(plain_c), 4),
                    "openssl": round(statistics.median(openssl), 4)},
    }
    (RESULTS / "hash_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
