"""GRUB script's parser: recursive descent over grub-core/script/parser.y."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from fastreboot.boot.grub.lexer import KEYWORDS, NAME, Lexer, Token, TokenKind
from fastreboot.errors import BootConfigError

_COMMAND_ENDS = (TokenKind.NEWLINE, TokenKind.SEMICOLON, TokenKind.CLOSE, TokenKind.EOF)


class LoopKind(enum.StrEnum):
    FOR = "for"
    WHILE = "while"
    UNTIL = "until"


@dataclass(frozen=True, slots=True)
class Cmd:
    """A command: its words, and the { block } that follows menuentry or submenu."""

    words: tuple[Token, ...]
    block: tuple[Node, ...] | None
    line: int


@dataclass(frozen=True, slots=True)
class If:
    """if/elif/else: the condition and body of each branch, then the else body."""

    branches: tuple[tuple[tuple[Node, ...], tuple[Node, ...]], ...]  # (condition, body)
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Loop:
    """A for loop over words, or a while/until loop on a condition."""

    kind: LoopKind
    var: str
    words: tuple[Token, ...]
    condition: tuple[Node, ...]
    body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Func:
    """A function definition."""

    name: str
    body: tuple[Node, ...]


Node = Cmd | If | Loop | Func


def parse(text: str, filename: str) -> tuple[Node, ...]:
    lexer = Lexer(text, filename)
    return Parser(lexer.tokens(), lexer.error).script()


class Parser:
    """Recursive descent over grub-core/script/parser.y (without case/select)."""

    def __init__(self, tokens: list[Token], error: Callable[[int, str], BootConfigError]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.error = error

    def script(self) -> tuple[Node, ...]:
        nodes, _ = self._list((), None)
        return nodes

    def _peek(self) -> Token:
        return self.tokens[self.pos]

    def _next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    @staticmethod
    def _keyword(token: Token) -> str | None:
        return token.raw if token.kind == TokenKind.WORD and token.raw in KEYWORDS else None

    def _list(
        self, ends: tuple[str, ...], opener: Token | None
    ) -> tuple[tuple[Node, ...], Token]:
        """Commands up to one of ``ends`` (keywords or "}") at a command start."""
        nodes: list[Node] = []
        while True:
            token = self._peek()
            if token.kind in (TokenKind.NEWLINE, TokenKind.SEMICOLON):
                self._next()
                continue
            if token.kind == TokenKind.EOF:
                if opener is None:
                    return tuple(nodes), token
                name = opener.raw or str(opener.kind)
                raise self.error(opener.line, f"{name!r} is never closed ({ends[-1]!r} missing)")
            if (token.kind == TokenKind.CLOSE and "}" in ends) or self._keyword(token) in ends:
                return tuple(nodes), token
            if token.kind in (TokenKind.OPEN, TokenKind.CLOSE):
                raise self.error(token.line, f"unexpected {str(token.kind)!r}")
            nodes.append(self._command())
            if self._peek().kind not in _COMMAND_ENDS:
                raise self.error(self._peek().line, f"unexpected {self._peek().raw!r}")

    def _command(self) -> Node:
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
        while self._peek().kind == TokenKind.WORD:
            words.append(self._next())
        block = None
        if self._peek().kind == TokenKind.OPEN:
            opener = self._next()
            block, _ = self._list(("}",), opener)
            self._next()
        return Cmd(tuple(words), block, token.line)

    def _expect(self, keyword: str, opener: Token) -> None:
        token = self._next()
        if self._keyword(token) != keyword:
            raise self.error(
                token.line, f"{keyword!r} expected ({opener.raw!r} of line {opener.line})"
            )

    def _if(self) -> If:
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
        orelse: tuple[Node, ...] = ()
        if end.raw == "else":
            orelse, _ = self._list(("fi",), opener)
            self._next()
        return If(tuple(branches), orelse)

    def _loop(self) -> Loop:
        opener = self._next()
        var, words = "", []
        condition: tuple[Node, ...] = ()
        if opener.raw == "for":
            name = self._next()
            if name.kind != TokenKind.WORD or not NAME.fullmatch(name.raw):
                raise self.error(name.line, "variable name expected after 'for'")
            var = name.raw
            self._expect("in", opener)
            while self._peek().kind == TokenKind.WORD:
                words.append(self._next())
            self._list(("do",), opener)
        else:
            condition, _ = self._list(("do",), opener)
        self._next()
        body, _ = self._list(("done",), opener)
        self._next()
        return Loop(LoopKind(opener.raw), var, tuple(words), condition, body)

    def _function(self) -> Func:
        opener = self._next()
        name = self._next()
        if name.kind != TokenKind.WORD or not NAME.fullmatch(name.raw):
            raise self.error(name.line, "function name expected")
        while self._peek().kind == TokenKind.NEWLINE:
            self._next()
        if self._next().kind != TokenKind.OPEN:
            raise self.error(name.line, f"'{{' expected after function {name.raw}")
        body, _ = self._list(("}",), opener)
        self._next()
        return Func(name.raw, body)
