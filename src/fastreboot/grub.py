"""What GRUB would boot: a small interpreter for the GRUB script that grub-mkconfig writes.

The script runs as GRUB runs it at boot (grubenv loaded, ``if``/``[ ]`` evaluated, menu
entries recorded); entry bodies run afterwards, like GRUB does when an entry is chosen, to
see which ``linux``/``initrd`` they load.  The default follows grub-core/normal/menu.c:
``default`` is an index, a title or an id, ``>`` walks into submenus, and a default that
names nothing falls back to entry 0.  When that entry is a submenu GRUB opens it with
timeout 0 (menu.c, grub_menu_execute_entry), so its own default (the rest of the path, else
its entry 0) is booted: that is what this module reports.

Nothing is written: ``save_env`` is a no-op.  Paths in the script are GRUB paths; they map
to target paths through the files under ``root`` (``/boot`` may be its own partition).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fastreboot import sysroot
from fastreboot.bootfiles import find_grub_cfg, os_release
from fastreboot.errors import BootConfigError
from fastreboot.model import BootEntry, Source
from fastreboot.values import dataclass, field, replace

TYPE_CHECKING = False  # True for mypy; typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from typing import ClassVar

    from fastreboot.bls import BlsEntryFile


@dataclass(frozen=True)
class GrubSelection:
    """What GRUB would boot and every kernel entry of its menu."""

    default: BootEntry | None  # what GRUB would boot (source=Source.GRUB), None if no entry
    entries: tuple[BootEntry, ...]  # every kernel entry in menu order, "Submenu>Entry" titles
    via: str  # how: "default=0", "saved_entry", "next_entry", "fallback-to-0", "blscfg:…"
    next_entry: str | None  # the one-shot value that was consumed, if any
    config_files: tuple[str, ...]  # target paths read (grub.cfg, grubenv, BLS entries)


def read_grubenv(path: Path) -> dict[str, str]:
    """Variables of a GRUB environment block (lib/envblk.c); BootConfigError if it is not one."""
    data = path.read_bytes().decode("utf-8", errors="replace")
    if not data.startswith(_ENVBLK_SIGNATURE):
        raise BootConfigError(f"{path}:1: not a GRUB environment block")
    env: dict[str, str] = {}
    for name, value in _envblk_lines(data[len(_ENVBLK_SIGNATURE) :]):
        env[name] = value
    return env


def grub_selection(root: Path, cfg: Path | None = None) -> GrubSelection | None:
    """Run grub.cfg (``cfg`` if already found) like GRUB at boot; None when there is none."""
    cfg = cfg or find_grub_cfg(root)
    if cfg is None:
        return None
    grub = _Grub(root)
    ctx = grub.run_config("/" + cfg.relative_to(root).as_posix())
    entries = tuple(grub.kernel_entries(ctx))
    default_entry, fell_back, from_bls = grub.default_entry(ctx)
    origin = ctx.origin.get("default")
    value = ctx.vars.get("default")
    via = origin or ("first-entry" if value is None else f"default={value}")
    if fell_back:
        via = "fallback-to-0"
    if from_bls:
        via = f"blscfg:{via}"
    next_entry = grub.grubenv.get("next_entry") if origin == "next_entry" else None
    return GrubSelection(default_entry, entries, via, next_entry, tuple(grub.files))


# ----------------------------------------------------------------------------- grubenv

_ENVBLK_SIGNATURE = "# GRUB Environment Block\n"


def _envblk_lines(data: str) -> Iterator[tuple[str, str]]:
    """name=value lines; backslash escapes the next character; "#" lines are padding."""
    pos = 0
    while pos < len(data):
        if data[pos] == "#":
            pos = _line_end(data, pos) + 1
            continue
        eq = data.find("=", pos)
        if eq < 0:
            return  # broken block: GRUB stops here too
        end = _line_end(data, eq + 1)
        if end >= len(data):
            return
        yield data[pos:eq], re.sub(r"\\(.)", r"\1", data[eq + 1 : end], flags=re.S)
        pos = end + 1


def _line_end(data: str, pos: int) -> int:
    while pos < len(data) and data[pos] != "\n":
        pos += 2 if data[pos] == "\\" else 1
    return pos


# ------------------------------------------------------------------------------- lexer
# Word parts: "lit" unquoted text, "quoted" text from '…' or "…", "var" an unquoted $var
# (split on blanks when expanded), "qvar" a $var inside "…" (never split).


@dataclass(frozen=True)
class _Part:
    """A piece of a word: kind "lit", "quoted", "var" or "qvar" (see above), and its text."""

    kind: str
    text: str


@dataclass(frozen=True)
class _Token:
    """A word (made of parts) or an operator, from the lexer."""

    kind: str  # "word", "newline", ";", "{", "}", "eof"
    line: int
    raw: str = ""  # source text of a word, to recognise keywords
    parts: tuple[_Part, ...] = ()


_KEYWORDS = {"if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while",
             "until", "function", "case", "esac", "select"}  # fmt: skip
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR_NAME = r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#*@]"
_VARIABLE = re.compile(rf"\{{({_VAR_NAME})\}}|({_VAR_NAME})")
_LITERAL_RUN = re.compile(r"""[^ \t\n;{}|&<>\\'"$]+""")  # up to a word's end, quote, \ or $
_QUOTED_RUN = re.compile(r'[^"\\$]+')  # inside "…": up to the closing quote, \ or $


class _Lexer:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text.replace("\r\n", "\n")
        self.filename = filename
        self.pos = 0
        self.line = 1

    def error(self, line: int, message: str) -> BootConfigError:
        return BootConfigError(f"{self.filename}:{line}: {message}")

    def tokens(self) -> list[_Token]:
        tokens = []
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \t":
                self.pos += 1
            elif text.startswith("\\\n", self.pos):
                self._advance(2)
            elif c == "\n":
                tokens.append(_Token("newline", self.line))
                self._advance(1)
            elif c == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif c in ";{}":
                if text.startswith(";;", self.pos):
                    raise self.error(self.line, "unexpected ';;'")
                tokens.append(_Token(c, self.line))
                self.pos += 1
            elif c in "|&<>":
                raise self.error(self.line, f"unexpected {c!r}: not GRUB script")
            else:
                tokens.append(self._word())
        tokens.append(_Token("eof", self.line))
        return tokens

    def _advance(self, n: int) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + n)
        self.pos += n

    def _word(self) -> _Token:
        text, start, line = self.text, self.pos, self.line
        parts: list[_Part] = []
        while self.pos < len(text) and text[self.pos] not in " \t\n;{}|&<>":
            c = text[self.pos]
            if c == "\\":
                if self.pos + 1 < len(text) and text[self.pos + 1] != "\n":
                    parts.append(_Part("lit", text[self.pos + 1]))
                elif self.pos + 1 == len(text):
                    parts.append(_Part("lit", "\\"))
                self._advance(2)
            elif c == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise self.error(self.line, "unterminated ' quote")
                parts.append(_Part("quoted", text[self.pos + 1 : end]))
                self._advance(end + 1 - self.pos)
            elif c == '"':
                parts.extend(self._double_quoted(expand=True))
            elif c == "$" and text.startswith('$"', self.pos):
                self.pos += 1  # $"…" is a translatable string: no expansion inside
                parts.extend(self._double_quoted(expand=False))
            elif c == "$":
                parts.append(_Part("var", self._variable()))
            else:
                # A run of plain characters at once (one part per character made GRUB's
                # lexer the hot spot of a plan); a run never holds a newline.
                run = _LITERAL_RUN.match(text, self.pos)
                end = run.end() if run else self.pos + 1
                parts.append(_Part("lit", text[self.pos : end]))
                self.pos = end
        return _Token("word", line, text[start : self.pos], tuple(_merge(parts)))

    def _double_quoted(self, *, expand: bool) -> list[_Part]:
        text, opened = self.text, self.line
        self.pos += 1
        parts = [_Part("quoted", "")]  # "" alone still makes an (empty) argument
        while True:
            if self.pos >= len(text):
                raise self.error(opened, 'unterminated " quote')
            c = text[self.pos]
            if c == '"':
                self.pos += 1
                return parts
            if c == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '$\\"\n':
                if text[self.pos + 1] != "\n":
                    parts.append(_Part("quoted", text[self.pos + 1]))
                self._advance(2)
            elif c == "$" and expand:
                parts.append(_Part("qvar", self._variable()))
            else:
                # A run of plain characters; at a backslash or an unexpanded $, one character.
                run = _QUOTED_RUN.match(text, self.pos)
                end = run.end() if run else self.pos + 1
                parts.append(_Part("quoted", text[self.pos : end]))
                self._advance(end - self.pos)

    def _variable(self) -> str:
        match = _VARIABLE.match(self.text, self.pos + 1)
        if match is None:
            raise self.error(self.line, "'$' not followed by a variable name")
        self.pos = match.end()
        return match.group(1) or match.group(2)


def _merge(parts: list[_Part]) -> Iterator[_Part]:
    """Join neighbouring literal parts of one kind (keeps variables apart)."""
    runs: list[tuple[str, list[str]]] = []
    for part in parts:
        if runs and part.kind == runs[-1][0] and part.kind in ("lit", "quoted"):
            runs[-1][1].append(part.text)
        else:
            runs.append((part.kind, [part.text]))
    return (_Part(kind, "".join(texts)) for kind, texts in runs)


# ------------------------------------------------------------------------------ parser


@dataclass(frozen=True)
class _Cmd:
    """A command: its words, and the { block } that follows menuentry or submenu."""

    words: tuple[_Token, ...]
    block: tuple[_Node, ...] | None
    line: int


@dataclass(frozen=True)
class _If:
    """if/elif/else: the condition and body of each branch, then the else body."""

    branches: tuple[tuple[tuple[_Node, ...], tuple[_Node, ...]], ...]  # (condition, body)
    orelse: tuple[_Node, ...]


@dataclass(frozen=True)
class _Loop:
    """A for loop over words, or a while/until loop on a condition."""

    kind: str  # "for", "while", "until"
    var: str
    words: tuple[_Token, ...]
    condition: tuple[_Node, ...]
    body: tuple[_Node, ...]


@dataclass(frozen=True)
class _Func:
    """A function definition."""

    name: str
    body: tuple[_Node, ...]


_Node = _Cmd | _If | _Loop | _Func


def _parse(text: str, filename: str) -> tuple[_Node, ...]:
    lexer = _Lexer(text, filename)
    return _Parser(lexer.tokens(), lexer.error).script()


class _Parser:
    """Recursive descent over grub-core/script/parser.y (without case/select)."""

    def __init__(self, tokens: list[_Token], error: Callable[[int, str], BootConfigError]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.error = error

    def script(self) -> tuple[_Node, ...]:
        nodes, _ = self._list((), None)
        return nodes

    def _peek(self) -> _Token:
        return self.tokens[self.pos]

    def _next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    @staticmethod
    def _keyword(token: _Token) -> str | None:
        return token.raw if token.kind == "word" and token.raw in _KEYWORDS else None

    def _list(
        self, ends: tuple[str, ...], opener: _Token | None
    ) -> tuple[tuple[_Node, ...], _Token]:
        """Commands up to one of ``ends`` (keywords or "}") at a command start."""
        nodes: list[_Node] = []
        while True:
            token = self._peek()
            if token.kind in ("newline", ";"):
                self._next()
                continue
            if token.kind == "eof":
                if opener is None:
                    return tuple(nodes), token
                name = opener.raw or opener.kind
                raise self.error(opener.line, f"{name!r} is never closed ({ends[-1]!r} missing)")
            if (token.kind == "}" and "}" in ends) or self._keyword(token) in ends:
                return tuple(nodes), token
            if token.kind in ("{", "}"):
                raise self.error(token.line, f"unexpected {token.kind!r}")
            nodes.append(self._command())
            if self._peek().kind not in ("newline", ";", "}", "eof"):
                raise self.error(self._peek().line, f"unexpected {self._peek().raw!r}")

    def _command(self) -> _Node:
        token = self._peek()
        keyword = self._keyword(token)
        if keyword == "if":
            return self._if()
        if keyword in ("for", "while", "until"):
            return self._loop()
        if keyword == "function":
            return self._function()
        if keyword is not None:
            raise self.error(token.line, f"unexpected {keyword!r}")
        words = [self._next()]
        while self._peek().kind == "word":
            words.append(self._next())
        block = None
        if self._peek().kind == "{":
            opener = self._next()
            block, _ = self._list(("}",), opener)
            self._next()
        return _Cmd(tuple(words), block, token.line)

    def _expect(self, keyword: str, opener: _Token) -> None:
        token = self._next()
        if self._keyword(token) != keyword:
            raise self.error(
                token.line, f"{keyword!r} expected ({opener.raw!r} of line {opener.line})"
            )

    def _if(self) -> _If:
        opener = self._next()
        branches = []
        while True:
            condition, _ = self._list(("then",), opener)
            self._next()
            body, end = self._list(("elif", "else", "fi"), opener)
            self._next()
            branches.append((condition, body))
            if end.raw != "elif":
                break
        orelse: tuple[_Node, ...] = ()
        if end.raw == "else":
            orelse, _ = self._list(("fi",), opener)
            self._next()
        return _If(tuple(branches), orelse)

    def _loop(self) -> _Loop:
        opener = self._next()
        var, words = "", []
        condition: tuple[_Node, ...] = ()
        if opener.raw == "for":
            name = self._next()
            if name.kind != "word" or not _NAME.fullmatch(name.raw):
                raise self.error(name.line, "variable name expected after 'for'")
            var = name.raw
            self._expect("in", opener)
            while self._peek().kind == "word":
                words.append(self._next())
            self._list(("do",), opener)
        else:
            condition, _ = self._list(("do",), opener)
        self._next()
        body, _ = self._list(("done",), opener)
        self._next()
        return _Loop(opener.raw, var, tuple(words), condition, body)

    def _function(self) -> _Func:
        opener = self._next()
        name = self._next()
        if name.kind != "word" or not _NAME.fullmatch(name.raw):
            raise self.error(name.line, "function name expected")
        while self._peek().kind == "newline":
            self._next()
        if self._next().kind != "{":
            raise self.error(name.line, f"'{{' expected after function {name.raw}")
        body, _ = self._list(("}",), opener)
        self._next()
        return _Func(name.raw, body)


# ------------------------------------------------------------------------- interpreter


@dataclass(frozen=True)
class _Item:
    """A menu entry or submenu as grub_normal_add_menu_entry records it."""

    title: str
    entry_id: str | None  # --id; GRUB matches the title where there is none
    args: tuple[str, ...]
    body: tuple[_Node, ...]
    submenu: bool
    from_bls: bool = False  # made by blscfg
    version: str | None = None  # the BLS entry's version


@dataclass
class _Context:
    """An environment context (grub_env_context_open) with its menu."""

    vars: dict[str, str]
    exported: set[str]
    menu: list[_Item] = field(default_factory=list)
    # grubenv variable a variable was copied from by `set x="${y}"`, to report via/next_entry
    origin: dict[str, str] = field(default_factory=dict)

    def child(self) -> _Context:
        shared = {name: value for name, value in self.vars.items() if name in self.exported}
        return _Context(shared, set(self.exported))


@dataclass(frozen=True)
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


class _Grub:
    """One boot of GRUB: the script's run, then its menus and entries examined."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[str] = []
        self.grubenv: dict[str, str] = {}
        self.functions: dict[str, tuple[_Node, ...]] = {}
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
            "grub_platform": "efi" if (self.root / "sys/firmware/efi").exists() else "pc",
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
        file = _host(self.root, path)
        if not file.is_file():
            return 1
        if self.depth >= _MAX_DEPTH:
            raise BootConfigError(f"{path}:1: configfile/source nested too deeply")
        self._note(path)
        nodes = _parse(file.read_text(encoding="utf-8", errors="replace"), path)
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

    def _run(self, nodes: Sequence[_Node]) -> int:
        status = 0
        for node in nodes:
            status = self._node(node)
        return status

    def _node(self, node: _Node) -> int:
        if isinstance(node, _Cmd):
            status = self._command(node)
            self.ctx.vars["?"] = str(status)
            return status
        if isinstance(node, _If):
            for condition, body in node.branches:
                if self._run(condition) == 0:
                    return self._run(body)
            return self._run(node.orelse)
        if isinstance(node, _Func):
            self.functions[node.name] = node.body
            return 0
        return self._loop(node)

    def _loop(self, node: _Loop) -> int:
        status = 0
        if node.kind == "for":
            for value in self._expand(node.words):
                self._set(node.var, value)
                status = self._run(node.body)
            return status
        for _ in range(_MAX_LOOPS):
            if (self._run(node.condition) == 0) != (node.kind == "while"):
                return status
            status = self._run(node.body)
        raise BootConfigError(f"{node.kind} loop did not end after {_MAX_LOOPS} rounds")

    def _command(self, node: _Cmd) -> int:
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

    def _call(self, body: tuple[_Node, ...], args: list[str]) -> int:
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

    def _expand(self, words: Sequence[_Token]) -> list[str]:
        """Arguments as grub_script_arglist_to_argv builds them (no globbing)."""
        argv: list[str] = []
        for word in words:
            current: str | None = None
            for part in word.parts:
                if part.kind == "quoted":
                    current = (current or "") + part.text
                elif part.kind == "lit":
                    current = (current or "") + part.text if part.text else current
                elif part.kind == "qvar":
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

    def _assign(self, name: str, value: str, word: _Token) -> int:
        self._set(name, value)
        source = _sole_variable(word)
        if source is not None and source in self.ctx.origin:
            self.ctx.origin[name] = self.ctx.origin[source]
        return 0

    # --- commands

    def _cmd_set(self, args: list[str], node: _Cmd) -> int:
        if not args or "=" not in args[0]:
            return 0 if not args else 1
        name, _, value = args[0].partition("=")
        return self._assign(name, value, node.words[min(1, len(node.words) - 1)])

    def _cmd_unset(self, args: list[str], node: _Cmd) -> int:
        for name in args:
            self._set(name, None)
        return 0

    def _cmd_export(self, args: list[str], node: _Cmd) -> int:
        self.ctx.exported.update(args)
        return 0

    def _cmd_setparams(self, args: list[str], node: _Cmd) -> int:
        self.positional = list(args)
        return 0

    def _cmd_false(self, args: list[str], node: _Cmd) -> int:
        return 1

    def _cmd_test(self, args: list[str], node: _Cmd) -> int:
        if args and args[-1] == "]":
            args = args[:-1]
        return 0 if _Test(args, self._file_info).run() else 1

    def _cmd_load_env(self, args: list[str], node: _Cmd) -> int:
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
            env = read_grubenv(_host(self.root, path))
        except (OSError, BootConfigError):
            return 1  # GRUB reports the error and goes on without the variables
        self._note(path)
        for name, value in env.items():
            if not names or name in names:
                self._set(name, value)
                self.ctx.origin[name] = name
                self.grubenv.setdefault(name, value)
        return 0

    def _cmd_increment(self, args: list[str], node: _Cmd) -> int:
        step = -1 if node.words[0].raw == "decrement" else 1
        for name in args:
            self._set(name, str(_strtosl(self._get(name)) + step))
        return 0

    def _cmd_source(self, args: list[str], node: _Cmd) -> int:
        return self._source(args[0]) if args else 1

    def _cmd_configfile(self, args: list[str], node: _Cmd) -> int:
        if not args:
            return 1
        parent, self.ctx = self.ctx, self.ctx.child()
        status = self._source(args[0])
        if self.ctx.menu:
            raise _Stop(self.ctx)
        self.ctx = parent
        return status

    def _cmd_menuentry(self, args: list[str], node: _Cmd) -> int:
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
            body = _parse(source, f"{self._get('config_file')}:{node.line} --source")
        if not positional or body is None:
            return 1
        submenu = node.words[0].raw == "submenu"
        self.ctx.menu.append(_Item(positional[0], entry_id, tuple(positional[1:]), body, submenu))
        return 0

    def _cmd_blscfg(self, args: list[str], node: _Cmd) -> int:
        """Fedora/RHEL's blscfg (rhboot grub2, blscfg.c): one entry per BLS file."""
        from fastreboot.bls import read_entry_files  # only a blscfg needs the BLS parser

        self.rhboot = True  # only GRUB with Fedora's patches has this command
        directory = self._get("blsdir") or "/loader/entries"
        files = read_entry_files(self.root, self.target_path(directory), grub_rules=True)
        if not files:
            files = read_entry_files(self.root, "/boot/loader/entries", grub_rules=True)
        use_version = all(f.first("version") for f in files)
        for entry in sorted(files, key=lambda f: _RpmKey(f, use_version), reverse=True):
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
            item = _Item(title, entry.entry_id, entry.all("grub_arg"), _parse(source, entry.path),
                         submenu=False, from_bls=True, version=entry.first("version"))  # fmt: skip
            self.ctx.menu.append(item)
        return 0

    _COMMANDS: ClassVar[dict[str, Callable[[_Grub, list[str], _Cmd], int]]] = {
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
        if not sysroot.exists(self.root, path) and sysroot.exists(self.root, "/boot" + path):
            return "/boot" + path
        return path

    def _file_info(self, grub_path: str) -> Path | None:
        file = _host(self.root, self.target_path(grub_path))
        return file if file.exists() else None

    def _note(self, path: str) -> None:
        if path not in self.files:
            self.files.append(path)

    # --- menus, after the script ran

    def kernel_entries(self, ctx: _Context, prefix: str = "") -> Iterator[BootEntry]:
        for item in ctx.menu:
            if item.submenu:
                submenu = self._open_submenu(item, ctx, None)
                yield from self.kernel_entries(submenu, f"{prefix}{item.title}>")
            else:
                entry = self._boot(item, ctx, prefix)
                if entry is not None:
                    yield entry

    def default_entry(self, ctx: _Context) -> tuple[BootEntry | None, bool, bool]:
        """(entry GRUB boots on timeout, whether a default fell back to 0, from blscfg)."""
        prefix, fell_back = "", False
        default = ctx.vars.get("default")
        while ctx.menu:
            index = _entry_number(ctx.menu, default, rhboot=self.rhboot)
            if index is None or index >= len(ctx.menu):
                fell_back = fell_back or default is not None
                index = 0
            item = ctx.menu[index]
            if not item.submenu:
                return self._boot(item, ctx, prefix), fell_back, item.from_bls
            rest = _path_rest(default)
            ctx, default = self._open_submenu(item, ctx, rest), rest
            prefix = f"{prefix}{item.title}>"
        return None, fell_back, False

    def _open_submenu(self, item: _Item, parent: _Context, default: str | None) -> _Context:
        """grub_menu_execute_entry for a submenu: a new context, timeout 0, rest of the path."""
        self.ctx = parent.child()
        self._set("default", default)
        self._set("timeout", "0")
        self._call(item.body, [item.title, *item.args])
        return self.ctx

    def _boot(self, item: _Item, ctx: _Context, prefix: str) -> BootEntry | None:
        self.ctx = _Context(dict(ctx.vars), set(ctx.exported))
        self.loaded = None
        self._call(item.body, [item.title, *item.args])
        loaded = self.loaded
        if loaded is None:
            return None
        kernel = self.target_path(loaded.kernel)
        version = _KERNEL_VERSION.match(kernel.rsplit("/", 1)[-1])
        return BootEntry(
            kernel=kernel,
            initrds=tuple(self.target_path(path) for path in loaded.initrds),
            cmdline=_loader_cmdline(loaded.args),
            source=Source.GRUB,
            title=prefix + item.title,
            version=item.version or (version.group(1) if version else None),
            entry_id=item.entry_id,
        )


_KERNEL_VERSION = re.compile(r"(?:vmlinuz|vmlinux|kernel|bzImage|zImage|Image)-(.+)$")


def _sole_variable(word: _Token) -> str | None:
    """The y of words like x="${y}": the value is that variable and nothing else."""
    at = [i for i, part in enumerate(word.parts) if part.kind in ("var", "qvar")]
    if len(at) != 1:
        return None
    before = "".join(part.text for part in word.parts[: at[0]])
    after = "".join(part.text for part in word.parts[at[0] + 1 :])
    return word.parts[at[0]].text if re.fullmatch(r"[^=]+=", before) and not after else None


def _strtoul(value: str) -> tuple[int | None, int]:
    """grub_strtoul(value, &end, 0): (leading number or None, where it stopped).
    "0x" means hex, a leading "0" octal; blanks before the number are skipped."""
    i = len(value) - len(value.lstrip(" \t\n\r\f\v"))
    base = 10
    if value.startswith("0x", i):
        base, i = 16, i + 2
    elif value.startswith("0", i) and value[i + 1 : i + 2] in tuple("01234567"):
        base = 8
    start, digits = i, "0123456789abcdef"[:base]
    while i < len(value) and value[i].lower() in digits:
        i += 1
    return (int(value[start:i], base) if i > start else None), i


def _menuentry_eq(ident: str, spec: str, limit: int = -1, *, rhboot: bool = False) -> bool:
    """menu.c's menuentry_eq: ident equals spec up to its first ">" (">>" is a literal ">").
    rhboot's variant may stop at ``limit`` where spec has a blank."""
    i = j = 0
    while limit == -1 or i <= limit:
        s, c = spec[j : j + 1], ident[i : i + 1]
        if s == ">" and spec[j + 1 : j + 2] != ">":
            return not c and (j > 0 or not rhboot)
        if s == ">":
            j += 1
        if c != s:
            return rhboot and -1 < limit == i and not c and s.isspace() and i != 1
        if not c:
            return i > 0 or not rhboot
        i, j = i + 1, j + 1
    return False


def _entry_number(menu: Sequence[_Item], value: str | None, *, rhboot: bool) -> int | None:
    """menu.c's get_entry_number.  Upstream (Debian, Ubuntu…) takes a leading number ("1>2"
    is 1, so is "1abc"), else the first entry whose title or id matches.  Fedora/RHEL's
    GRUB (rhboot) tries every id, then every title, then a number that is the whole value."""
    if value is None:
        return None
    number, end = _strtoul(value)
    if not rhboot:
        if number is not None:
            return number
        matches = (_menuentry_eq(i.title, value) or _menuentry_eq(_item_id(i), value) for i in menu)
        return next((index for index, match in enumerate(matches) if match), None)
    word = len(re.split(r"\s", value, maxsplit=1)[0])
    for index, item in enumerate(menu):
        if _menuentry_eq(_item_id(item), value, word, rhboot=True):
            return index if word == len(value) else None
    for index, item in enumerate(menu):
        if _menuentry_eq(item.title, value, rhboot=True):
            return index
    return number if end == len(value) else None


def _item_id(item: _Item) -> str:
    return item.entry_id if item.entry_id is not None else item.title


def _path_rest(default: str | None) -> str | None:
    """What a submenu gets as its default: the text after the first ">" (not ">>")."""
    if default is None:
        return None
    i = 0
    while i < len(default):
        if default.startswith(">>", i):
            i += 2
        elif default[i] == ">":
            return default[i + 1 :] or None
        else:
            i += 1
    return None


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


class _RpmKey:
    """blscfg's bls_cmp: rpm's vercmp on version (if every entry has one), then file name."""

    def __init__(self, entry: BlsEntryFile, use_version: bool) -> None:
        self.keys = ((entry.first("version") or "") if use_version else "", entry.entry_id)

    def __lt__(self, other: _RpmKey) -> bool:
        for mine, theirs in zip(self.keys, other.keys, strict=True):
            r = _rpm_vercmp(mine, theirs)
            if r:
                return r < 0
        return False


def _rpm_vercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    one = re.findall(r"~|[0-9]+|[A-Za-z]+", a)
    two = re.findall(r"~|[0-9]+|[A-Za-z]+", b)
    for x, y in zip(one, two, strict=False):
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
            continue
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        if x.isdigit():
            x0, y0 = x.lstrip("0"), y.lstrip("0")
            if (len(x0), x0) != (len(y0), y0):
                return 1 if (len(x0), x0) > (len(y0), y0) else -1
        elif x != y:
            return 1 if x > y else -1
    if len(one) != len(two):
        longer, rest = (1, one[len(two)]) if len(one) > len(two) else (-1, two[len(one)])
        return -longer if rest == "~" else longer
    return 0


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
            x, y = _strtosl(a), _strtosl(b)
            return {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-le": x <= y,
                    "-gt": x > y, "-ge": x >= y}[op]  # fmt: skip
        if op in ("-pgt", "-plt"):
            i = 0
            while i < min(len(a), len(b)) and a[i] == b[i]:
                i += 1
            i -= 1
            while i > 0 and a[i].isdigit():
                i -= 1
            x, y = _strtoul(a[i + 1 :])[0] or 0, _strtoul(b[i + 1 :])[0] or 0
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


def _strtosl(value: str) -> int:
    if value.startswith("-"):
        return -(_strtoul(value[1:])[0] or 0)
    return _strtoul(value)[0] or 0


def _host(root: Path, path: Path | str) -> Path:
    """Host path of a target path (or of a host path under root), links resolved in root."""
    target = "/" + path.relative_to(root).as_posix() if isinstance(path, Path) else path
    return sysroot.host_path(root, sysroot.resolve(root, target))
