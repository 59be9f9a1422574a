"""A small interpreter for the GRUB script that grub-mkconfig writes.

The script runs as GRUB runs it at boot (grubenv loaded, ``if``/``[ ]`` evaluated, menu
entries recorded); entry bodies run afterwards, like GRUB does when an entry is chosen, to
see which ``linux``/``initrd`` they load. When the default entry is a submenu GRUB opens it
with timeout 0 (menu.c, grub_menu_execute_entry), so its own default is what boots.

Nothing is written: ``save_env`` is a no-op. Paths in the script are GRUB paths; they map
to target paths through the files under the root (``/boot`` may be its own partition).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from fastreboot.boot.bls import BlsEntryFile, read_entry_files
from fastreboot.boot.entry import BootEntry, Source
from fastreboot.boot.grub.grubenv import read_grubenv
from fastreboot.boot.grub.lexer import PartKind, Token
from fastreboot.boot.grub.menu import Item, entry_number, item_id, path_rest, strtosl, strtoul
from fastreboot.boot.grub.parser import Cmd, Func, If, Loop, LoopKind, Node, parse
from fastreboot.boot.locate import os_release
from fastreboot.boot.names import basename, kernel_version
from fastreboot.boot.versions import rpm_vercmp
from fastreboot.errors import BootConfigError
from fastreboot.sysroot import SysRoot


@dataclass(slots=True)
class _Context:
    """An environment context (grub_env_context_open) with its menu."""

    vars: dict[str, str]
    exported: set[str]
    menu: list[Item] = field(default_factory=list)
    # grubenv variable a variable was copied from by `set x="${y}"`, to report via/next_entry
    origin: dict[str, str] = field(default_factory=dict)

    def child(self) -> _Context:
        shared = {name: value for name, value in self.vars.items() if name in self.exported}
        return _Context(shared, set(self.exported))


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The kernel and initrds that an entry's linux and initrd commands loaded."""

    kernel: str
    args: tuple[str, ...]
    initrds: tuple[str, ...] = ()


class _Stop(Exception):
    """configfile showed another menu: the current script ends there."""

    def __init__(self, ctx: _Context) -> None:
        super().__init__()
        self.ctx = ctx


_MAX_DEPTH = 32
_MAX_LOOPS = 1000
_LINUX = {"linux", "linuxefi", "linux16"}
_INITRD = {"initrd", "initrdefi", "initrd16"}
_OTHER_LOADERS = {"chainloader", "multiboot", "multiboot2", "kfreebsd", "knetbsd", "kopenbsd",
                  "appleloader", "xnu_kernel", "xnu_kernel64", "legacy_kernel"}  # fmt: skip
# Commands that succeed without effects that matter here (unknown ones fail, like a command
# whose module is missing, so `if loadfont …`, `if keystatus …` take the else branch).
_NO_EFFECT = {"insmod", "rmmod", "echo", "save_env", "true", "boot", "terminal_output",
              "terminal_input", "serial", "sleep", "play", "background_image", "clear",
              "password", "password_pbkdf2"}  # fmt: skip


class Grub:
    """One boot of GRUB: the script's run, then its menus and entries examined."""

    def __init__(self, root: SysRoot) -> None:
        self.root = root
        self.files: list[str] = []
        self.grubenv: dict[str, str] = {}
        self.functions: dict[str, tuple[Node, ...]] = {}
        self.ctx = _Context({}, set())
        self.positional: list[str] = []
        self.loaded: _Loaded | None = None
        self.depth = 0
        release = os_release(root)
        family = f"{release.get('ID', '')} {release.get('ID_LIKE', '')}".split()
        self.rhboot = "fedora" in family or "rhel" in family  # GRUB with Fedora's patches

    # --- running scripts

    def run_config(self, path: str) -> _Context:
        """Run the first config file; returns the context whose menu GRUB shows."""
        directory = path.rsplit("/", 1)[0] or "/"
        builtins = {
            "feature_menuentry_id": "y", "feature_default_font_path": "y",
            "feature_all_video_module": "y", "feature_timeout_style": "y",
            "feature_platform_search_hint": "y", "feature_chainloader_bpb": "y",
            "feature_ntldr": "y", "feature_menuentry_options": "y", "feature_200_final": "y",
            "feature_nativedisk_cmd": "y", "menuentry_id_option": "--id",
            "grub_platform": "efi" if self.root.lexical("/sys/firmware/efi").exists() else "pc",
            "grub_cpu": "x86_64", "prefix": directory, "root": "hd0", "cmdpath": directory,
        }  # fmt: skip
        self.ctx = _Context(dict(builtins), set(builtins))
        try:
            self._source(path)
        except _Stop as stop:
            return stop.ctx
        return self.ctx

    def _source(self, grub_path: str) -> int:
        path = self.target_path(grub_path)
        file = self.root.host(path)
        if not file.is_file():
            return 1
        if self.depth >= _MAX_DEPTH:
            raise BootConfigError(f"{path}:1: configfile/source nested too deeply")
        self._note(path)
        nodes = parse(file.read_text(encoding="utf-8", errors="replace"), path)
        saved = {k: self.ctx.vars.get(k) for k in ("config_file", "config_directory")}
        self._set("config_file", path, export=True)
        self._set("config_directory", path.rsplit("/", 1)[0] or "/", export=True)
        self.depth += 1
        try:
            status = self._run(nodes)
        finally:
            self.depth -= 1
        # Not restored when configfile ended the script: its menu is shown with them set.
        for name, value in saved.items():
            self._set(name, value)
        return status

    def _run(self, nodes: Sequence[Node]) -> int:
        status = 0
        for node in nodes:
            status = self._node(node)
        return status

    def _node(self, node: Node) -> int:
        if isinstance(node, Cmd):
            status = self._command(node)
            self.ctx.vars["?"] = str(status)
            return status
        if isinstance(node, If):
            for condition, body in node.branches:
                if self._run(condition) == 0:
                    return self._run(body)
            return self._run(node.orelse)
        if isinstance(node, Func):
            self.functions[node.name] = node.body
            return 0
        return self._loop(node)

    def _loop(self, node: Loop) -> int:
        status = 0
        if node.kind is LoopKind.FOR:
            for value in self._expand(node.words):
                self._set(node.var, value)
                status = self._run(node.body)
            return status
        for _ in range(_MAX_LOOPS):
            if (self._run(node.condition) == 0) != (node.kind is LoopKind.WHILE):
                return status
            status = self._run(node.body)
        raise BootConfigError(f"{node.kind} loop did not end after {_MAX_LOOPS} rounds")

    def _command(self, node: Cmd) -> int:
        argv = self._expand(node.words)
        if not argv:
            return 0
        name, args = argv[0], argv[1:]
        handler = self._COMMANDS.get(name)
        if handler is not None:
            return handler(self, args, node)
        if name in self.functions:
            return self._call(self.functions[name], args)
        if name in _LINUX or name in _INITRD or name in _OTHER_LOADERS:
            return self._loader(name, args)
        if name.startswith("search"):
            return self._search(name, args)
        if "=" in name:  # `name=value` assigns when no command has that name
            var, _, value = name.partition("=")
            return self._assign(var, value, node.words[0])
        return 0 if name in _NO_EFFECT else 1

    def _call(self, body: tuple[Node, ...], args: list[str]) -> int:
        if self.depth >= _MAX_DEPTH:
            raise BootConfigError("GRUB function calls nested too deeply")
        saved, self.positional = self.positional, list(args)
        self.depth += 1
        try:
            return self._run(body)
        finally:
            self.depth -= 1
            self.positional = saved

    # --- words

    def _expand(self, words: Sequence[Token]) -> list[str]:
        """Arguments as grub_script_arglist_to_argv builds them (no globbing)."""
        argv: list[str] = []
        for word in words:
            current: str | None = None
            for part in word.parts:
                if part.kind is PartKind.QUOTED:
                    current = (current or "") + part.text
                elif part.kind is PartKind.LIT:
                    current = (current or "") + part.text if part.text else current
                elif part.kind is PartKind.QVAR:
                    value = self._get(part.text)
                    current = (current or "") + value if value else current
                else:
                    for n, piece in enumerate(self._get(part.text).split()):
                        if n:
                            argv.append(current or "")
                            current = None
                        current = (current or "") + piece
            if current is not None:
                argv.append(current)
        return argv

    def _get(self, name: str) -> str:
        if name.isdigit():
            n = int(name)
            return self.positional[n - 1] if 0 < n <= len(self.positional) else ""
        if name == "#":
            return str(len(self.positional))
        if name in ("*", "@"):
            return " ".join(self.positional)
        return self.ctx.vars.get(name, "")

    def _set(self, name: str, value: str | None, *, export: bool = False) -> None:
        if value is None:
            self.ctx.vars.pop(name, None)
        else:
            self.ctx.vars[name] = value
        self.ctx.origin.pop(name, None)
        if export:
            self.ctx.exported.add(name)

    def _assign(self, name: str, value: str, word: Token) -> int:
        self._set(name, value)
        source = _sole_variable(word)
        if source is not None and source in self.ctx.origin:
            self.ctx.origin[name] = self.ctx.origin[source]
        return 0

    # --- commands

    def _cmd_set(self, args: list[str], node: Cmd) -> int:
        if not args or "=" not in args[0]:
            return 0 if not args else 1
        name, _, value = args[0].partition("=")
        return self._assign(name, value, node.words[min(1, len(node.words) - 1)])

    def _cmd_unset(self, args: list[str], node: Cmd) -> int:
        for name in args:
            self._set(name, None)
        return 0

    def _cmd_export(self, args: list[str], node: Cmd) -> int:
        self.ctx.exported.update(args)
        return 0

    def _cmd_setparams(self, args: list[str], node: Cmd) -> int:
        self.positional = list(args)
        return 0

    def _cmd_false(self, args: list[str], node: Cmd) -> int:
        return 1

    def _cmd_test(self, args: list[str], node: Cmd) -> int:
        if args and args[-1] == "]":
            args = args[:-1]
        return 0 if _Test(args, self._file_info).run() else 1

    def _cmd_load_env(self, args: list[str], node: Cmd) -> int:
        file, names = f"{self._get('prefix')}/grubenv", []
        options = iter(args)
        for arg in options:
            if arg in ("-f", "--file"):
                file = next(options, file)
            elif arg.startswith("--file="):
                file = arg.removeprefix("--file=")
            elif arg not in ("-s", "--skip-sig"):
                names.append(arg)
        path = self.target_path(file)
        try:
            env = read_grubenv(self.root.host(path))
        except (OSError, BootConfigError):
            return 1  # GRUB reports the error and goes on without the variables
        self._note(path)
        for name, value in env.items():
            if not names or name in names:
                self._set(name, value)
                self.ctx.origin[name] = name
                self.grubenv.setdefault(name, value)
        return 0

    def _cmd_increment(self, args: list[str], node: Cmd) -> int:
        step = -1 if node.words[0].raw == "decrement" else 1
        for name in args:
            self._set(name, str(strtosl(self._get(name)) + step))
        return 0

    def _cmd_source(self, args: list[str], node: Cmd) -> int:
        return self._source(args[0]) if args else 1

    def _cmd_configfile(self, args: list[str], node: Cmd) -> int:
        if not args:
            return 1
        parent, self.ctx = self.ctx, self.ctx.child()
        status = self._source(args[0])
        if self.ctx.menu:
            raise _Stop(self.ctx)
        self.ctx = parent
        return status

    def _cmd_menuentry(self, args: list[str], node: Cmd) -> int:
        entry_id: str | None = None
        source: str | None = None
        positional: list[str] = []
        options = iter(args)
        for arg in options:
            key, eq, inline = arg.partition("=")
            if arg == "--":
                positional.extend(options)
            elif key in ("--class", "--users", "--hotkey", "--id", "--source"):
                value = inline if eq else next(options, "")
                if key == "--id":
                    entry_id = value
                elif key == "--source":
                    source = value
            elif arg != "--unrestricted":
                positional.append(arg)
        body = node.block
        if source is not None and body is None:
            body = parse(source, f"{self._get('config_file')}:{node.line} --source")
        if not positional or body is None:
            return 1
        submenu = node.words[0].raw == "submenu"
        self.ctx.menu.append(Item(positional[0], entry_id, tuple(positional[1:]), body, submenu))
        return 0

    def _cmd_blscfg(self, args: list[str], node: Cmd) -> int:
        """Fedora/RHEL's blscfg (rhboot grub2, blscfg.c): one entry per BLS file."""
        self.rhboot = True  # only GRUB with Fedora's patches has this command
        directory = self._get("blsdir") or "/loader/entries"
        files = read_entry_files(self.root, self.target_path(directory), grub_rules=True)
        if not files:
            files = read_entry_files(self.root, "/boot/loader/entries", grub_rules=True)
        use_version = all(f.first("version") for f in files)
        for entry in sorted(files, key=functools.cmp_to_key(_bls_order(use_version)), reverse=True):
            self._note(entry.path)
            linux = entry.first("linux")
            if linux is None:
                continue
            options = _expand_bls_options(entry.first("options"), self.ctx.vars)
            initrds = " ".join(f"($root){path}" for path in entry.all("initrd"))
            source = (
                f"load_video\nset gfx_payload=keep\ninsmod gzio\n"
                f"linux ($root){linux}{' ' + options if options else ''}\n"
                + (f"initrd {initrds}\n" if initrds else "")
            )
            title = entry.first("title") or linux
            item = Item(title, entry.entry_id, entry.all("grub_arg"), parse(source, entry.path),
                         submenu=False, from_bls=True, version=entry.first("version"))  # fmt: skip
            self.ctx.menu.append(item)
        return 0

    _COMMANDS: ClassVar[dict[str, Callable[[Grub, list[str], Cmd], int]]] = {
        "set": _cmd_set, "unset": _cmd_unset, "export": _cmd_export, "setparams": _cmd_setparams,
        "false": _cmd_false, "test": _cmd_test, "[": _cmd_test, "load_env": _cmd_load_env,
        "increment": _cmd_increment, "decrement": _cmd_increment, "source": _cmd_source,
        ".": _cmd_source, "configfile": _cmd_configfile, "menuentry": _cmd_menuentry,
        "submenu": _cmd_menuentry, "blscfg": _cmd_blscfg, "bls_import": _cmd_blscfg,
    }  # fmt: skip

    def _loader(self, name: str, args: list[str]) -> int:
        if name in _LINUX:
            if not args:
                return 1
            self.loaded = _Loaded(args[0], tuple(args[1:]))
        elif name in _INITRD:
            if self.loaded is None or not args:
                return 1  # "you need to load the kernel first"
            self.loaded = replace(self.loaded, initrds=tuple(args))
        else:
            self.loaded = None  # another loader replaces the kernel
        return 0

    def _search(self, name: str, args: list[str]) -> int:
        """search* --set[=VAR] …: GRUB finds the device; a placeholder value will do, device
        prefixes are dropped when paths are mapped."""
        var = None
        positional = [a for a in args if not a.startswith("-")]
        for arg in args:
            if arg == "--set" or arg.startswith("--set="):
                var = arg.partition("=")[2] or "root"
        if name != "search" and var is None:  # search.fs_uuid KEY [VAR] [HINT…]
            var = positional[1] if len(positional) > 1 else "root"
        if var is not None:
            self._set(var, self.ctx.vars.get(var) or "hd0")
        return 0

    # --- files

    def target_path(self, grub_path: str) -> str:
        """Target path of a GRUB path: drop "(device)", then find it in / or in /boot."""
        path = "/" + re.sub(r"^\([^)]*\)", "", grub_path).lstrip("/")
        path = re.sub(r"/+", "/", path)
        if not self.root.exists(path) and self.root.exists("/boot" + path):
            return "/boot" + path
        return path

    def _file_info(self, grub_path: str) -> Path | None:
        file = self.root.host(self.target_path(grub_path))
        return file if file.exists() else None

    def _note(self, path: str) -> None:
        if path not in self.files:
            self.files.append(path)

    # --- menus, after the script ran

    def kernel_entries(
        self, ctx: _Context, prefix: str = "", id_prefix: str = ""
    ) -> Iterator[BootEntry]:
        for item in ctx.menu:
            if item.submenu:
                submenu = self._open_submenu(item, ctx, None)
                yield from self.kernel_entries(
                    submenu, f"{prefix}{item.title}>", f"{id_prefix}{_path_part(item)}>"
                )
            else:
                entry = self._boot(item, ctx, prefix, id_prefix)
                if entry is not None:
                    yield entry

    def default_entry(self, ctx: _Context) -> tuple[BootEntry | None, bool, bool]:
        """(entry GRUB boots on timeout, whether a default fell back to 0, from blscfg)."""
        prefix, id_prefix, fell_back = "", "", False
        default = ctx.vars.get("default")
        while ctx.menu:
            index = entry_number(ctx.menu, default, rhboot=self.rhboot)
            if index is None or index >= len(ctx.menu):
                fell_back = fell_back or default is not None
                index = 0
            item = ctx.menu[index]
            if not item.submenu:
                return self._boot(item, ctx, prefix, id_prefix), fell_back, item.from_bls
            rest = path_rest(default)
            ctx, default = self._open_submenu(item, ctx, rest), rest
            prefix = f"{prefix}{item.title}>"
            id_prefix = f"{id_prefix}{_path_part(item)}>"
        return None, fell_back, False

    def _open_submenu(self, item: Item, parent: _Context, default: str | None) -> _Context:
        """grub_menu_execute_entry for a submenu: a new context, timeout 0, rest of the path."""
        self.ctx = parent.child()
        self._set("default", default)
        self._set("timeout", "0")
        self._call(item.body, [item.title, *item.args])
        return self.ctx

    def _boot(
        self, item: Item, ctx: _Context, prefix: str, id_prefix: str = ""
    ) -> BootEntry | None:
        self.ctx = _Context(dict(ctx.vars), set(ctx.exported))
        self.loaded = None
        self._call(item.body, [item.title, *item.args])
        loaded = self.loaded
        if loaded is None:
            return None
        kernel = self.target_path(loaded.kernel)
        return BootEntry(
            kernel=kernel,
            initrds=tuple(self.target_path(path) for path in loaded.initrds),
            cmdline=_loader_cmdline(loaded.args),
            source=Source.GRUB,
            title=prefix + item.title,
            version=item.version or kernel_version(basename(kernel)),
            entry_id=item.entry_id,
            menu_path=id_prefix + _path_part(item),
        )


def _path_part(item: Item) -> str:
    """The item in a menu path: its id, else its title; a ">" in it is written ">>"."""
    return item_id(item).replace(">", ">>")


def _sole_variable(word: Token) -> str | None:
    """The y of words like x="${y}": the value is that variable and nothing else."""
    at = [i for i, part in enumerate(word.parts) if part.kind in (PartKind.VAR, PartKind.QVAR)]
    if len(at) != 1:
        return None
    before = "".join(part.text for part in word.parts[: at[0]])
    after = "".join(part.text for part in word.parts[at[0] + 1 :])
    return word.parts[at[0]].text if re.fullmatch(r"[^=]+=", before) and not after else None


def _loader_cmdline(args: Sequence[str]) -> str:
    """lib/cmdline.c: escape \\ ' " and quote arguments that contain a space."""
    quoted = []
    for arg in args:
        escaped = re.sub(r"([\\'\"])", r"\\\1", arg)
        quoted.append(f'"{escaped}"' if " " in arg else escaped)
    return " ".join(quoted)


def _expand_bls_options(options: str | None, variables: dict[str, str]) -> str:
    """blscfg's expand_val: $name (letters, digits, _) replaced when blscfg runs."""
    if options is None:
        return ""
    return re.sub(r"\$([A-Za-z0-9_]*)", lambda m: variables.get(m.group(1), ""), options)


def _bls_order(use_version: bool) -> Callable[[BlsEntryFile, BlsEntryFile], int]:
    """blscfg's bls_cmp: rpm's vercmp on version (if every entry has one), then file name."""

    def compare(a: BlsEntryFile, b: BlsEntryFile) -> int:
        if use_version:
            r = rpm_vercmp(a.first("version") or "", b.first("version") or "")
            if r:
                return r
        return rpm_vercmp(a.entry_id, b.entry_id)

    return compare


class _Test:
    """grub-core/commands/test.c: GRUB's `test` / `[`; unknown operators act as strings."""

    def __init__(self, args: list[str], file_info: Callable[[str], Path | None]) -> None:
        self.args = args
        self.pos = 0
        self.file_info = file_info

    def run(self) -> bool:
        return self._parse(0)

    def _parse(self, depth: int) -> bool:
        state = {"and": True, "or": False, "invert": False}

        def update(value: bool) -> None:
            state["and"] = state["and"] and (value != state["invert"])
            state["invert"] = False

        args = self.args
        while self.pos < len(args):
            a = args[self.pos]
            three, two = args[self.pos : self.pos + 3], args[self.pos : self.pos + 2]
            binary = self._binary(*three) if len(three) == 3 else None
            unary = self._unary(*two) if len(two) == 2 else None
            if binary is not None:
                update(binary)
                self.pos += 3
            elif unary is not None:
                update(unary)
                self.pos += 2
            elif a == ")":
                self.pos += 1
                return state["or"] or state["and"]
            elif a == "(":
                self.pos += 1
                update(self._parse(depth + 1) if depth < 100 else False)
            elif a == "!":
                state["invert"] = not state["invert"]
                self.pos += 1
            elif a == "-a":
                self.pos += 1
            elif a == "-o":
                state["or"] = state["or"] or state["and"]
                state["and"] = True
                self.pos += 1
            else:
                update(a != "")
                self.pos += 1
        return state["or"] or state["and"]

    def _binary(self, a: str, op: str, b: str) -> bool | None:
        strings = {"=": a == b, "==": a == b, "!=": a != b, "<": a < b, "<=": a <= b,
                   ">": a > b, ">=": a >= b}  # fmt: skip
        if op in strings:
            return strings[op]
        if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
            x, y = strtosl(a), strtosl(b)
            return {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-le": x <= y,
                    "-gt": x > y, "-ge": x >= y}[op]  # fmt: skip
        if op in ("-pgt", "-plt"):
            i = 0
            while i < min(len(a), len(b)) and a[i] == b[i]:
                i += 1
            i -= 1
            while i > 0 and a[i].isdigit():
                i -= 1
            x, y = strtoul(a[i + 1 :])[0] or 0, strtoul(b[i + 1 :])[0] or 0
            return x > y if op == "-pgt" else x < y
        if op.startswith(("-nt", "-ot")):
            return False  # modification times are not compared here
        return None

    def _unary(self, op: str, arg: str) -> bool | None:
        if op in ("-d", "-e", "-f", "-s"):
            file = self.file_info(arg)
            if file is None:
                return False
            return {"-d": file.is_dir(), "-e": True, "-f": not file.is_dir(),
                    "-s": file.is_file() and file.stat().st_size > 0}[op]  # fmt: skip
        if op == "-n":
            return arg != ""
        if op == "-z":
            return arg == ""
        return None
