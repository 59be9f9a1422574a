"""GRUB script's lexer (grub-core/script/yylex.l): words made of parts, and operators."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastreboot.errors import BootConfigError


class PartKind(enum.StrEnum):
    LIT = "lit"  # unquoted text
    QUOTED = "quoted"  # text from '…' or "…"
    VAR = "var"  # an unquoted $var: split on blanks when expanded
    QVAR = "qvar"  # a $var inside "…": never split


class TokenKind(enum.StrEnum):
    WORD = "word"
    NEWLINE = "newline"
    SEMICOLON = ";"
    OPEN = "{"
    CLOSE = "}"
    EOF = "eof"


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a word, and its text."""

    kind: PartKind
    text: str


@dataclass(frozen=True, slots=True)
class Token:
    """A word (made of parts) or an operator, from the lexer."""

    kind: TokenKind
    line: int
    raw: str = ""  # source text of a word, to recognise keywords
    parts: tuple[Part, ...] = ()


KEYWORDS = {"if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while",
             "until", "function", "case", "esac", "select"}  # fmt: skip
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR_NAME = r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#*@]"
_VARIABLE = re.compile(rf"\{{({_VAR_NAME})\}}|({_VAR_NAME})")
_LITERAL_RUN = re.compile(r"""[^ \t\n;{}|&<>\\'"$]+""")  # up to a word's end, quote, \ or $
_QUOTED_RUN = re.compile(r'[^"\\$]+')  # inside "…": up to the closing quote, \ or $


class Lexer:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text.replace("\r\n", "\n")
        self.filename = filename
        self.pos = 0
        self.line = 1

    def error(self, line: int, message: str) -> BootConfigError:
        return BootConfigError(f"{self.filename}:{line}: {message}")

    def tokens(self) -> list[Token]:
        tokens = []
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \t":
                self.pos += 1
            elif text.startswith("\\\n", self.pos):
                self._advance(2)
            elif c == "\n":
                tokens.append(Token(TokenKind.NEWLINE, self.line))
                self._advance(1)
            elif c == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif c in ";{}":
                if text.startswith(";;", self.pos):
                    raise self.error(self.line, "unexpected ';;'")
                tokens.append(Token(TokenKind(c), self.line))
                self.pos += 1
            elif c in "|&<>":
                raise self.error(self.line, f"unexpected {c!r}: not GRUB script")
            else:
                tokens.append(self._word())
        tokens.append(Token(TokenKind.EOF, self.line))
        return tokens

    def _advance(self, n: int) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + n)
        self.pos += n

    def _word(self) -> Token:
        text, start, line = self.text, self.pos, self.line
        parts: list[Part] = []
        while self.pos < len(text) and text[self.pos] not in " \t\n;{}|&<>":
            c = text[self.pos]
            if c == "\\":
                if self.pos + 1 < len(text) and text[self.pos + 1] != "\n":
                    parts.append(Part(PartKind.LIT, text[self.pos + 1]))
                elif self.pos + 1 == len(text):
                    parts.append(Part(PartKind.LIT, "\\"))
                self._advance(2)
            elif c == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise self.error(self.line, "unterminated ' quote")
                parts.append(Part(PartKind.QUOTED, text[self.pos + 1 : end]))
                self._advance(end + 1 - self.pos)
            elif c == '"':
                parts.extend(self._double_quoted(expand=True))
            elif c == "$" and text.startswith('$"', self.pos):
                self.pos += 1  # $"…" is a translatable string: no expansion inside
                parts.extend(self._double_quoted(expand=False))
            elif c == "$":
                parts.append(Part(PartKind.VAR, self._variable()))
            else:
                # A run of plain characters at once (one part per character made GRUB's
                # lexer the hot spot of a plan); a run never holds a newline.
                run = _LITERAL_RUN.match(text, self.pos)
                end = run.end() if run else self.pos + 1
                parts.append(Part(PartKind.LIT, text[self.pos : end]))
                self.pos = end
        return Token(TokenKind.WORD, line, text[start : self.pos], tuple(_merge(parts)))

    def _double_quoted(self, *, expand: bool) -> list[Part]:
        text, opened = self.text, self.line
        self.pos += 1
        parts = [Part(PartKind.QUOTED, "")]  # "" alone still makes an (empty) argument
        while True:
            if self.pos >= len(text):
                raise self.error(opened, 'unterminated " quote')
            c = text[self.pos]
            if c == '"':
                self.pos += 1
                return parts
            if c == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '$\\"\n':
                if text[self.pos + 1] != "\n":
                    parts.append(Part(PartKind.QUOTED, text[self.pos + 1]))
                self._advance(2)
            elif c == "$" and expand:
                parts.append(Part(PartKind.QVAR, self._variable()))
            else:
                # A run of plain characters; at a backslash or an unexpanded $, one character.
                run = _QUOTED_RUN.match(text, self.pos)
                end = run.end() if run else self.pos + 1
                parts.append(Part(PartKind.QUOTED, text[self.pos : end]))
                self._advance(end - self.pos)

    def _variable(self) -> str:
        match = _VARIABLE.match(self.text, self.pos + 1)
        if match is None:
            raise self.error(self.line, "'$' not followed by a variable name")
        self.pos = match.end()
        return match.group(1) or match.group(2)


def _merge(parts: list[Part]) -> Iterator[Part]:
    """Join neighbouring literal parts of one kind (keeps variables apart)."""
    runs: list[tuple[PartKind, list[str]]] = []
    for part in parts:
        if runs and part.kind == runs[-1][0] and part.kind in (PartKind.LIT, PartKind.QUOTED):
            runs[-1][1].append(part.text)
        else:
            runs.append((part.kind, [part.text]))
    return (Part(kind, "".join(texts)) for kind, texts in runs)
