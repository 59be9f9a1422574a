"""Fleet benchmark: a rolling reboot of three guests with the fastreboot role against
ansible.builtin.reboot (a firmware reboot) and ansible.builtin.reboot with a kexec
``reboot_command``, in one run, the methods alternated.

``python3 -m bench.fleet`` boots, for every method of every round, three fresh guests of
the harness's ``ssh`` image (Debian 12, SSH on a loopback port each, QEMU allowed to
reset) and runs one playbook over them with ``serial: 1``:

* R ``fastreboot.fastreboot.rolling_reboot`` (the role with its defaults: plan, gate,
  load, reboot through kexec, wait, verify the record)
* F ``ansible.builtin.reboot`` with ``reboot_command: systemctl reboot`` (through the
  firmware; its default ``shutdown -r 0`` needs D-Bus, which the guests lack)
* K ``ansible.builtin.reboot`` with ``reboot_command: kexec -l /vmlinuz
  --initrd=/initrd.img --reuse-cmdline && systemctl kexec``

It measures the playbook's wall time and each host's time (its batch: the first task to
the last) and reports them as ratios to R. Results: ``bench/results/fleet-<commit>/``
(results.md, fleet.png, raw.json); the guests' console logs stay under
``artifacts/bench/fleet-<date>/``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.downtime import _cmd, bench_image, environment, wait_until_idle  # noqa: E402
from harness import Guest, GuestImage, build_image, build_project_disk  # noqa: E402
from harness.accel import select_accel  # noqa: E402
from harness.qemu import free_port  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results"
COLLECTION = REPO_ROOT / "ansible" / "fastreboot" / "fastreboot"
NAMES = ("fr1", "fr2", "fr3")
KEXEC_COMMAND = ("kexec -l /vmlinuz --initrd=/initrd.img --reuse-cmdline "
                 "&& systemctl kexec")

#: The methods: key -> (title, the play's tasks for one host).
METHODS: dict[str, tuple[str, str]] = {
    "R": ("fastreboot.fastreboot.rolling_reboot (kexec, verified)", """\
  roles:
    - fastreboot.fastreboot.rolling_reboot
"""),
    # Its default command, `shutdown -r 0`, schedules the reboot through logind, which
    # needs D-Bus; these guests have none (the K command's systemctl reaches PID 1
    # directly). `systemctl reboot` is K's path with the firmware instead of kexec.
    "F": ("ansible.builtin.reboot, reboot_command: systemctl reboot (firmware)", """\
  tasks:
    - ansible.builtin.reboot:
        reboot_command: systemctl reboot
      register: fastreboot_result
"""),
    "K": ("ansible.builtin.reboot, reboot_command: kexec -l … --reuse-cmdline && "
          "systemctl kexec", f"""\
  tasks:
    - ansible.builtin.reboot:
        reboot_command: "{KEXEC_COMMAND}"
      register: fastreboot_result
"""),
}

def _log(msg: str) -> None:
    print(f"[fleet] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def playbook(method: str, results: Path) -> str:
    """The play for *method*. Each host's start and end are taken on the controller
    (set_fact with now(): no connection); the host's file is written after its end."""
    tasks = METHODS[method][1]
    return f"""\
- hosts: all
  serial: 1
  max_fail_percentage: 0
  gather_facts: false
  pre_tasks:
    - ansible.builtin.set_fact:
        bench_t0: "{{{{ now().timestamp() }}}}"
{tasks}  post_tasks:
    - ansible.builtin.set_fact:
        bench_t1: "{{{{ now().timestamp() }}}}"
    - ansible.builtin.copy:
        content: "{{{{ {{'t0': bench_t0, 't1': bench_t1,
                      'result': fastreboot_result | default(None)}} | to_json }}}}"
        dest: {results}/{{{{ inventory_hostname }}}}.json
      delegate_to: localhost
"""


class Fleet:
    """Three fresh guests, booted one after another (three TCG boots at once would
    crowd two cores), each with fastreboot set up (untimed: a fleet set up long ago)."""

    def __init__(self, image: GuestImage, project_disk: Path, workdir: Path, key: Path) -> None:
        self.guests: dict[str, Guest] = {}
        self.workdir = workdir
        lines = ["[fleet]"]
        for name in NAMES:
            port = free_port()
            guest = Guest(image, workdir / name, name=name, project_disk=project_disk,
                          smp=1, ssh_port=port, allow_reset=True)
            self.guests[name] = guest
            guest.start()
            guest.wait_ready(timeout=400)
            guest.authorize_ssh_key(key.with_suffix(".pub").read_text())
            guest.run("fastreboot setup >/dev/null", timeout=120)
            lines.append(
                f"{name} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
                f"ansible_ssh_private_key_file={key} ansible_python_interpreter=/usr/bin/python3 "
                "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'")
        self.inventory = workdir / "inventory.ini"
        self.inventory.write_text("\n".join(lines) + "\n")

    def state(self) -> dict[str, dict[str, Any]]:
        return {name: {"boot_id": g.run("cat /proc/sys/kernel/random/boot_id").output.strip(),
                       "kernel": g.run("uname -r").output.strip(),
                       "resets": len(g.resets), "exited": g.exited}
                for name, g in self.guests.items()}

    def stop(self) -> None:
        for guest in self.guests.values():
            guest.stop()
            guest.overlay.unlink(missing_ok=True)  # the logs stay, the disk goes


def run_method(method: str, image: GuestImage, project_disk: Path, workdir: Path, *,
               key: Path, collections: Path, settle: float) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    boot_started = time.monotonic()
    fleet = Fleet(image, project_disk, workdir, key)
    measurement: dict[str, Any] = {"method": method,
                                   "boot_s": round(time.monotonic() - boot_started, 1)}
    try:
        measurement["openssh_guest"] = fleet.guests[NAMES[0]].run(
            "dpkg-query -W -f='${Version}' openssh-server").output.strip()
        before = fleet.state()
        time.sleep(settle)
        results = workdir / "results"
        results.mkdir(exist_ok=True)
        play = workdir / "play.yml"
        play.write_text(playbook(method, results))
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0",
               "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_PIPELINING": "1",
               "ANSIBLE_LOCALHOST_WARNING": "0"}
        started = time.time()
        ran = subprocess.run(["ansible-playbook", "-i", str(fleet.inventory), str(play)],
                             capture_output=True, text=True, env=env, timeout=1800,
                             check=False)
        wall = time.time() - started
        (workdir / "ansible.log").write_text(ran.stdout + ran.stderr)
        after = fleet.state()
        hosts = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
        measurement.update(rc=ran.returncode, wall_s=round(wall, 2), started_at=started)
        for name in NAMES:
            host = hosts.get(name) or {}
            t0, t1 = host.get("t0"), host.get("t1")
            host.update(before=before[name], after=after[name],
                        host_s=round(float(t1) - float(t0), 2) if t0 and t1 else None)
            host["problems"] = _problems(method, before[name], after[name], image)
            host["timeline"] = _timeline(host.get("result"))
            hosts[name] = host
        measurement["hosts"] = hosts
        measurement["ok"] = ran.returncode == 0 and not any(
            h["problems"] for h in hosts.values())
        if not measurement["ok"]:
            _log(f"{method}: rc {ran.returncode}, problems "
                 f"{ {n: h['problems'] for n, h in hosts.items()} }; "
                 f"tail: {ran.stdout[-1500:]}")
    finally:
        fleet.stop()
    return measurement


def _problems(method: str, before: dict[str, Any], after: dict[str, Any],
              image: GuestImage) -> list[str]:
    problems = []
    if after["boot_id"] == before["boot_id"]:
        problems.append("the boot id did not change")
    if after["kernel"] != image.new_version:
        problems.append(f"came back on {after['kernel']}")
    resets = after["resets"] - before["resets"]
    if method == "F" and resets == 0:
        problems.append("no firmware reset")
    if method != "F" and resets:
        problems.append("a firmware reset instead of kexec")
    return problems


def _timeline(result: dict[str, Any] | None) -> dict[str, float] | None:
    """Where the role's time after the launch goes, on the controller's clock: the host's
    clock is placed by the module's return (host_time_before ~ prepared_at)."""
    if not result or not result.get("record") or not result.get("launched_at"):
        return None
    record = result["record"]
    offset = float(result["host_time_before"]) - float(result["prepared_at"])
    requested = float(record["requested_at"]) - offset
    up = requested + float(record.get("downtime_s") or 0)
    return {
        "prepare_s": round(float(result["launched_at"]) - float(result["prepared_at"]), 2),
        "launch_to_request_s": round(requested - float(result["launched_at"]), 2),
        "downtime_s": float(record.get("downtime_s") or 0),
        "up_to_back_s": round(float(result["back_at"]) - up, 2),
        "wait_s": float(result["wait_s"]),
        "clock_offset_s": round(offset, 2),
    }


# ------------------------------------------------------------------------------ report


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summary(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in raw["settings"]["methods"]:
        ms = [m for m in raw["measurements"] if m["method"] == key and m.get("ok")]
        walls = [m["wall_s"] for m in ms]
        per_host = [h["host_s"] for m in ms for h in m["hosts"].values() if h.get("host_s")]
        out[key] = {"n": len(ms), "wall": _median(walls), "walls": walls,
                    "host": _median(per_host), "hosts": per_host,
                    "failed": len([m for m in raw["measurements"]
                                   if m["method"] == key and not m.get("ok")])}
    return out


def markdown(raw: dict[str, Any]) -> str:
    env = raw["environment"]
    s = summary(raw)
    ref = s.get("R", {})
    lines = [
        "# Fleet benchmark: rolling reboot of three guests",
        "",
        f"- date: {env['date']}; run took {raw.get('bench_seconds', 0) / 60:.0f} min",
        f"- host: {env['host']['nproc']} CPUs ({env['host']['cpu']}), "
        f"{env['host']['memory_gib']} GiB, Linux {env['host']['kernel']}",
        f"- QEMU: {env['qemu']}, accelerator **{env['accel']}** (1 vCPU, 1 GiB per guest, "
        "q35, SeaBIOS " + env["seabios"] + ")",
        f"- guests: {env['guest']['debian']} image `{env['guest']['image']}`, systemd "
        f"{env['guest']['systemd']}, kexec-tools {env['guest']['kexec_tools']}, python3 "
        f"{env['guest']['python3']}, OpenSSH {_guest_openssh(raw)}; "
        f"QEMU boots {env['guest']['boot_kernel']} and every method comes back to it",
        f"- controller: ansible-core {raw['versions']['ansible_core']}, OpenSSH "
        f"{raw['versions']['openssh']}, Python {env['host_python']}",
        f"- fastreboot {env['fastreboot']['version']}, commit {env['fastreboot']['commit']}",
        f"- {raw['settings']['rounds']} rounds, methods alternated "
        f"({' '.join(raw['settings']['methods'])} …), three fresh guests for every method of "
        "every round (booted one after another, `fastreboot setup` run, then "
        f"{raw['settings']['settle_s']:.0f} s of quiet), `serial: 1`, SSH pipelining on",
        "",
        *[f"- **{', '.join(a['methods'])} measured in a second run** ({a['date']}, commit "
          f"{a['commit']}, right after this one on the same machine, same image and "
          "settings): in this run it had failed (see *Every run*); those methods are not "
          "alternated with the others" for a in raw.get("added_runs", [])],
        "",
        "## Wall time (seconds: median (min-max))",
        "",
        "*total*: the `ansible-playbook` run; *per host*: a host's batch, from its first "
        "task to its last (controller clock); ratios are X/R of the medians.",
        "",
        "| method | n | total | X/R | per host | X/R |",
        "|---|---|---|---|---|---|",
    ]
    for key in METHODS:
        if key not in s:
            continue
        m = s[key]
        title = raw["methods"][key]["title"]
        if not m["n"]:
            lines.append(f"| **{key}** {title} | 0 ({m['failed']} failed) | | | | |")
            continue
        lines.append(
            f"| **{key}** {title} | {m['n']} | {_range(m['wall'], m['walls'])} | "
            f"{_ratio(m['wall'], ref.get('wall'))} | {_range(m['host'], m['hosts'])} | "
            f"{_ratio(m['host'], ref.get('host'))} |")
    target = None
    if ref.get("wall") and s.get("K", {}).get("wall"):
        target = ref["wall"] / s["K"]["wall"]
        host_target = ref["host"] / s["K"]["host"]
        lines += ["", "## Target", "",
                  "| ratio | value | target |", "|---|---|---|",
                  f"| R/K total | {target:.2f} | ≤ 0.85 {'✓' if target <= 0.85 else '✗'} |",
                  f"| R/K per host | {host_target:.2f} | ≤ 0.85 "
                  f"{'✓' if host_target <= 0.85 else '✗'} |"]
        if s.get("F", {}).get("wall"):
            lines.append(f"| R/F total | {ref['wall'] / s['F']['wall']:.2f} | |")
    rs = [h for m in raw["measurements"] if m["method"] == "R" and m.get("ok")
          for h in m["hosts"].values() if h.get("timeline")]
    timelines = [h["timeline"] for h in rs]
    if timelines:
        lines += ["", "## Where a host's time goes in R (medians, seconds)", "",
                  "From the module's results and the record (the guest's clock placed on the "
                  "controller's by the module's return; ±0.5 s). *rest of the role*: the "
                  "host's time minus wait_s (the module runs before the launch: gate, plan, "
                  "load; and after: the record). *last attempt*: the one probe that saw the "
                  "host back (SSH handshake and command on the freshly booted guest).", "",
                  "| per host | wait_s (launch → back) | rest of the role | launch → reboot "
                  "requested | record downtime (request → default.target) | services up → "
                  "back | last attempt |", "|---|---|---|---|---|---|---|"]
        lines.append("| " + " | ".join(str(_median(v)) for v in (
            [float(h["host_s"]) for h in rs],
            [t["wait_s"] for t in timelines],
            [float(h["host_s"]) - float(h["result"]["wait_s"]) for h in rs],
            [t["launch_to_request_s"] for t in timelines],
            [t["downtime_s"] for t in timelines], [t["up_to_back_s"] for t in timelines],
            [float(h["result"]["wait"]["last_attempt_s"]) for h in rs
             if (h["result"].get("wait") or {}).get("last_attempt_s") is not None],
        )) + " |")
    lines += ["", "## Every run", "", "| round | method | rc | total | fr1 | fr2 | fr3 | "
              "guests booted in |", "|---|---|---|---|---|---|---|---|"]
    for m in raw["measurements"]:
        cells = [str(m["hosts"][n].get("host_s")) + ("" if not m["hosts"][n]["problems"]
                                                     else " ✗") for n in NAMES]
        lines.append(f"| {m['round']}{' (2nd run)' if m.get('added_run') else ''} | "
                     f"{m['method']} | {m.get('rc')} | {m.get('wall_s')} | "
                     + " | ".join(cells) + f" | {m['boot_s']} s |")
    problems = [(m["round"], m["method"], n, h["problems"]) for m in raw["measurements"]
                for n, h in m["hosts"].items() if h["problems"]]
    if problems:
        lines += ["", "Problems: " + "; ".join(f"r{r} {k} {n}: {', '.join(p)}"
                                               for r, k, n, p in problems)]
    return "\n".join(lines) + "\n"


def _guest_openssh(raw: dict[str, Any]) -> str:
    return next((m["openssh_guest"] for m in raw["measurements"] if m.get("openssh_guest")),
                "?")


def _range(mid: float | None, values: list[float]) -> str:
    return f"{mid:.1f} ({min(values):.1f}-{max(values):.1f})" if mid is not None else ""


def _ratio(value: float | None, ref: float | None) -> str:
    return f"{value / ref:.2f}" if value and ref else ""


def chart(raw: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summary(raw)
    keys = [k for k in METHODS if s.get(k, {}).get("n")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.6 + 0.6 * len(keys)))
    for ax, (field, values, label) in zip(
            axes, (("wall", "walls", "total (ansible-playbook), s"),
                   ("host", "hosts", "per host (median), s")), strict=True):
        for row, key in enumerate(reversed(keys)):
            m = s[key]
            ax.barh(row, m[field], color="#1f77b4" if key == "R" else "#999999")
            ax.plot(m[values], [row] * len(m[values]), "k|", markersize=10)
            ratio = m[field] / s["R"][field] if s.get("R", {}).get(field) else 0
            ax.text(m[field] * 1.01, row + 0.25, f"{m[field]:.0f} s ({ratio:.2f} of R)",
                    fontsize=8)
        ax.set_yticks(range(len(keys)))
        ax.set_yticklabels([f"{k}" for k in reversed(keys)])
        ax.set_xlabel(label, fontsize=8)
        ax.set_xlim(0, max(max(s[k][values]) for k in keys) * 1.3)
    env = raw["environment"]
    fig.suptitle(f"Rolling reboot of 3 guests (serial 1), QEMU {env['accel'].upper()}, "
                 f"{env['date']}; R: fastreboot role, F: ansible.builtin.reboot, "
                 "K: its kexec reboot_command", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(raw: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(raw))
    chart(raw, out / "fleet.png")


def add_run(raw: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """*raw* with the measurements of *other* (a later run on the same machine) for the
    methods *other* measured; those methods' failed measurements in *raw* are kept but
    marked, so the tables use the later run for them."""
    methods = set(other["settings"]["methods"])
    for m in raw["measurements"]:
        if m["method"] in methods:
            m["replaced_by_added_run"] = True
            m["ok"] = False
    for m in other["measurements"]:
        raw["measurements"].append({**m, "added_run": True})
    raw.setdefault("added_runs", []).append({
        "methods": sorted(methods), "date": other["environment"]["date"],
        "commit": other["environment"]["fastreboot"]["commit"],
        "bench_seconds": other.get("bench_seconds"),
        "titles": {k: other["methods"][k]["title"] for k in methods}})
    for k in methods:
        raw["methods"][k] = other["methods"][k]
    return raw


def _save(raw: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "raw.json.tmp"
    tmp.write_text(json.dumps(raw, indent=1) + "\n")
    tmp.replace(out / "raw.json")


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--methods", default="R,F,K")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default bench/results/fleet-<commit>)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds of quiet after the guests are up")
    parser.add_argument("--max-wait", type=float, default=3600)
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite results.md and fleet.png from OUT/raw.json")
    parser.add_argument("--add-run", type=Path, default=None, metavar="RAW",
                        help="with --report-only: add the measurements of another run's "
                             "raw.json (of methods that failed in OUT's run), marked as such")
    args = parser.parse_args(argv)
    commit = _cmd(["git", "-C", str(REPO_ROOT), "rev-parse", "--short=7", "HEAD"])
    out = args.out or RESULTS / f"fleet-{commit}"
    if args.report_only:
        stored = json.loads((out / "raw.json").read_text())
        if args.add_run:
            stored = add_run(stored, json.loads(args.add_run.read_text()))
            _save(stored, out)
        write(stored, out)
        return 0
    if shutil.which("ansible-playbook") is None:
        raise SystemExit("ansible-core is not installed (pip install -e '.[test]')")
    methods = [k.strip() for k in args.methods.split(",") if k.strip()]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdir = REPO_ROOT / "artifacts" / "bench" / f"fleet-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    image = build_image("ssh")
    booted = bench_image(image, "new", workdir)
    accel = select_accel(booted.boot_kernel)
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    collections = workdir / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", str(COLLECTION),
                    "-p", str(collections)], check=True, capture_output=True, timeout=300)
    env = environment(image, accel, booted.boot_kernel.name)
    env["guest"]["smp"] = 1
    raw: dict[str, Any] = {
        "environment": env,
        "versions": {
            "ansible_core": _cmd([sys.executable, "-c",
                                  "import ansible; print(ansible.__version__)"]),
            "openssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True,
                                      check=False).stderr.strip(),
        },
        "settings": {"rounds": args.rounds, "methods": methods, "settle_s": args.settle,
                     "workdir": str(workdir), "serial": 1, "hosts": len(NAMES)},
        "methods": {k: {"title": METHODS[k][0], "tasks": METHODS[k][1]} for k in methods},
        "measurements": [],
    }
    project_disk = build_project_disk(workdir / "project.img", bytecode=True)
    for round_no in range(1, args.rounds + 1):
        for method in methods:
            wait_until_idle(args.max_wait)
            _log(f"round {round_no}/{args.rounds}: {method} ({METHODS[method][0]})")
            measurement = run_method(method, booted, project_disk,
                                     workdir / f"r{round_no}-{method}", key=key,
                                     collections=collections, settle=args.settle)
            measurement["round"] = round_no
            raw["measurements"].append(measurement)
            _log(f"{method}: total {measurement.get('wall_s')} s, hosts "
                 + ", ".join(f"{n} {h.get('host_s')}" for n, h in
                             measurement.get("hosts", {}).items()))
            raw["bench_seconds"] = round(time.monotonic() - t_start, 1)
            _save(raw, out)
    raw["bench_seconds"] = round(time.monotonic() - t_start, 1)
    _save(raw, out)
    write(raw, out)
    _log(f"done in {raw['bench_seconds'] / 60:.1f} min: {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
