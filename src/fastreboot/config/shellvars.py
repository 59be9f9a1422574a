"""Shell-variable files (/etc/default/kexec, /etc/sysconfig/kdump) read as data, never run.

Only plain assignments are accepted: ``NAME=value``, ``export NAME=value``,
comments, blank lines, POSIX quoting and escapes, line continuations. Anything
whose value only a shell could compute ($VAR, $(...), `...`, ~) or that is a
command (if, ., source, any other word) raises ConfigError naming ``file:line``.

A ``$`` that cannot start an expansion (trailing, or before ``/``, ``.``, a
blank...) stays literal, as POSIX shells keep it. ``$'...'`` and ``$"..."`` are
rejected because dash and bash give them different values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastreboot.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BLANKS = " \t"
_OPERATORS = ";&|<>()"
# Characters after an unquoted or double-quoted $ that make it an expansion.
_SPECIAL_PARAMS = "@*#?-$!"
_NO_RUN_HINT = "the file is read as data, never run as shell code: write values literally"


@dataclass(frozen=True, slots=True)
class ShellVar:
    """One assignment: its value after quote removal, and where it was made."""

    value: str
    source: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(slots=True)
class _Word:
    """A word being read: each character with whether it was quoted or escaped."""

    line: int
    chars: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(ch for ch, _ in self.chars)


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.pos = 0
        self.line = 1

    def error(self, what: str, line: int | None = None) -> ConfigError:
        return ConfigError(f"{self.source}:{line or self.line}: {what}", hint=_NO_RUN_HINT)

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def statements(self) -> Iterator[list[_Word]]:
        """The statements (lines) of words, quotes resolved, one at a time."""
        words: list[_Word] = []
        word: _Word | None = None
        while self.pos < len(self.text):
            ch = self.peek()
            if ch == "\\" and self.peek(1) == "\n":  # continuation: joins lines, ends nothing
                self.pos += 2
                self.line += 1
                continue
            if ch in "\n" + _BLANKS:
                if word is not None:
                    words.append(word)
                    word = None
                if ch == "\n":
                    yield words
                    words = []
                    self.line += 1
                self.pos += 1
                continue
            if ch == "#" and word is None:  # a comment starts only at a word start
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
                continue
            if ch in _OPERATORS:
                raise self.error(f"shell operator {ch!r} found")
            if word is None:
                word = _Word(self.line)
            self.read_part(word)
        if word is not None:
            words.append(word)
        yield words

    def read_part(self, word: _Word) -> None:
        ch = self.peek()
        if ch == "'":
            self.read_single_quoted(word)
        elif ch == '"':
            self.read_double_quoted(word)
        elif ch == "\\":
            escaped = self.peek(1)
            # A backslash at the very end of the file stays literal, as in dash and bash.
            word.chars.append((escaped or "\\", True))
            self.pos += 2 if escaped else 1
        elif ch == "`":
            raise self.error("command substitution '`' found")
        elif ch == "$":
            self.check_dollar(quoted=False)
            word.chars.append(("$", False))
            self.pos += 1
        else:
            word.chars.append((ch, False))
            self.pos += 1

    def read_single_quoted(self, word: _Word) -> None:
        start = self.line
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise self.error("unterminated single quote", start)
        content = self.text[self.pos + 1 : end]
        word.chars.extend((ch, True) for ch in content)
        self.line += content.count("\n")
        self.pos = end + 1

    def read_double_quoted(self, word: _Word) -> None:
        start = self.line
        self.pos += 1
        while (ch := self.peek()) != '"':
            if not ch:
                raise self.error("unterminated double quote", start)
            if ch == "`":
                raise self.error("command substitution '`' found")
            if ch == "$":
                self.check_dollar(quoted=True)
            # Inside double quotes a backslash escapes only $ ` " \ and newline.
            escaped = ch == "\\" and self.peek(1) != "" and self.peek(1) in '$`"\\\n'
            if escaped:
                self.pos += 1
                ch = self.peek()
            if ch == "\n":
                self.line += 1
            if not (escaped and ch == "\n"):  # an escaped newline joins lines
                word.chars.append((ch, True))
            self.pos += 1
        self.pos += 1

    def check_dollar(self, *, quoted: bool) -> None:
        """Raise if the $ at self.pos starts an expansion."""
        after = self.peek(1)
        if after == "(":
            if self.peek(2) == "(":
                raise self.error("arithmetic expansion '$((' found")
            raise self.error("command substitution '$(' found")
        if after == "{":
            raise self.error("parameter expansion '${' found")
        name = re.match(r"[A-Za-z0-9_]+", self.text[self.pos + 1 :])
        if name:
            raise self.error(f"variable reference '${name.group()}' found")
        if after and after in _SPECIAL_PARAMS:
            raise self.error(f"special parameter '${after}' found")
        if not quoted and after in ("'", '"'):
            raise self.error(f"'${after}' quoting found (dash and bash read it differently)")

    def assignment(self, word: _Word) -> tuple[str, str] | None:
        """(name, value) when the word is NAME=value with NAME and '=' unquoted."""
        chars = word.chars
        equals = chars.index(("=", False)) if ("=", False) in chars else -1
        head = _Word(word.line, chars[:equals])
        if equals <= 0 or not _unquoted(head) or not _NAME.match(head.text):
            return None
        value = chars[equals + 1 :]
        # A shell expands an unquoted ~ at the value start or after an unquoted ':'.
        for i, (ch, quoted) in enumerate(value):
            if (ch, quoted) == ("~", False) and (i == 0 or value[i - 1] == (":", False)):
                raise self.error(f"tilde expansion '~' found in {head.text}", word.line)
        return head.text, "".join(ch for ch, _ in value)


def parse_shell_vars(text: str, source: str) -> dict[str, ShellVar]:
    """Assignments in ``text``; a later assignment overrides an earlier one.

    ``source`` names the file in messages (the path as seen on the target).
    """
    reader = _Reader(text, source)
    result: dict[str, ShellVar] = {}
    for words in reader.statements():
        exporting = bool(words) and words[0].chars == [(ch, False) for ch in "export"]
        for word in words[1:] if exporting else words:
            pair = reader.assignment(word)
            if pair is not None:
                name, value = pair
                result[name] = ShellVar(value, source, word.line)
            elif not (exporting and _NAME.match(word.text) and _unquoted(word)):
                # `export NAME` changes no value; every other word is a command.
                raise reader.error(
                    f"{word.text!r} is a command, not a variable assignment", word.line
                )
    return result


def _unquoted(word: _Word) -> bool:
    return not any(quoted for _, quoted in word.chars)
