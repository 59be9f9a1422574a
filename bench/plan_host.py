"""How long ``fastreboot plan`` takes on the host (import time counted), with hyperfine.

The system it plans for is the unit tests' fake Debian 12 + systemd sysroot
(``tests/unit/sysroots.debian_systemd``) with the grub.cfg that Debian 12's grub-mkconfig
wrote (``tests/fixtures/grub/debian-default``, its kernels renamed to the sysroot's), so
that the plan runs GRUB's script as on a real server.  The figure that matters is the
ratio to a bare ``python -c pass`` measured in the same run.  Two cases, because whether
bytecode is there matters: *with bytecode* (``.pyc`` files in a private
``PYTHONPYCACHEPREFIX``, written by hyperfine's warm-up runs, as after any pip or Debian
install) and *without* (an empty cache prefix and ``PYTHONDONTWRITEBYTECODE=1``: every
module is compiled on every run).
The interpreter's own start-up (``python -c pass``) is measured too.

``python3 -m bench.plan_host`` prints the numbers; bench.downtime records them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _hyperfine(argv: list[str], env: dict[str, str], runs: int, warmup: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="fastreboot-hyperfine-") as tmp:
        out = Path(tmp) / "out.json"
        subprocess.run(
            ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
             "--export-json", str(out), " ".join(argv)],
            env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        times: list[float] = json.loads(out.read_text())["results"][0]["times"]
        return times


def _loop(argv: list[str], env: dict[str, str], runs: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def _summary(times: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "runs": len(times),
    }


def measure(runs: int = 40, warmup: int = 3) -> dict[str, Any]:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.unit.sysroots import NEW, OLD, debian_systemd

    tool = "hyperfine" if shutil.which("hyperfine") else "loop"
    timer = _hyperfine if tool == "hyperfine" else _loop
    results: dict[str, Any] = {"tool": tool, "python": sys.executable,
                               "python_version": sys.version.split()[0], "cases": {}}
    with tempfile.TemporaryDirectory(prefix="fastreboot-plan-host-") as tmp:
        root = Path(tmp) / "sysroot"
        debian_systemd(root)
        grub = (REPO_ROOT / "tests/fixtures/grub/debian-default/grub.cfg").read_text()
        grub = grub.replace("6.1.0-56-amd64", NEW).replace("6.1.0-47-amd64", OLD)
        (root / "boot/grub").mkdir(parents=True, exist_ok=True)
        (root / "boot/grub/grub.cfg").write_text(grub)
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base["PYTHONPATH"] = str(REPO_ROOT / "src")
        plan = [sys.executable, "-m", "fastreboot", "--root", str(root), "plan"]
        with_pyc = {**base, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}
        without = {**base, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "empty"),
                   "PYTHONDONTWRITEBYTECODE": "1"}
        cases = {
            "python -c pass (interpreter start-up)": ([sys.executable, "-c", "pass"], with_pyc),
            "fastreboot plan, bytecode available": (plan, with_pyc),
            "fastreboot plan, no bytecode (PYTHONDONTWRITEBYTECODE=1)": (plan, without),
        }
        for label, (argv, env) in cases.items():
            results["cases"][label] = _summary(timer(argv, env, runs, warmup))
        bare, planned = (results["cases"][label]["median_ms"] for label in list(cases)[:2])
        results["plan_over_python_pass"] = round(planned / bare, 2)
        source = subprocess.run([*plan, "--json"], env=with_pyc, capture_output=True,
                                text=True, check=True).stdout
        results["plan_source"] = json.loads(source)["source"]
        # What the plan imports, once (the modules a plan needs should stay few).
        proc = subprocess.run([sys.executable, "-X", "importtime", *plan[1:]], env=with_pyc,
                              capture_output=True, text=True, check=True)
        modules = [line for line in proc.stderr.splitlines() if "import time:" in line]
        results["modules_imported"] = len(modules) - 1
        results["fastreboot_modules"] = sorted(
            line.rsplit("|", 1)[1].strip() for line in modules
            if line.rsplit("|", 1)[1].strip().startswith("fastreboot")
        )
    return results


def main() -> int:
    print(json.dumps(measure(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
