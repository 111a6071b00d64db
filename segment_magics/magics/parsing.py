"""Split a magic line into tokens and options without ever evaluating anything.

IPython's ``$``/``{}`` expansion gives up on the whole line when one ``{...}``
fails, and shlex mangles inline JSON, so we tokenize ourselves: quoted strings,
balanced ``{...}``/``[...]`` groups and plain words, then hand placeholders to
argparse so that values keep their kind (quoted text is never a variable).
"""

from __future__ import annotations

import argparse
import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from .errors import SegmentUsageError

TokenKind = Literal["word", "quoted", "braced"]
_OPENERS = {"{": "}", "[": "]", "(": ")"}
_NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d+)?")


@dataclass(frozen=True)
class Token:
    text: str
    kind: TokenKind

    @property
    def is_option(self) -> bool:
        return (
            self.kind == "word"
            and self.text.startswith("-")
            and _NEGATIVE_NUMBER.fullmatch(self.text) is None
        )


def _scan_quoted(line: str, start: int) -> tuple[str, int]:
    quote = line[start]
    out: list[str] = []
    i = start + 1
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in {quote, "\\"}:
            out.append(line[i + 1])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise SegmentUsageError(f"unclosed {quote} quote in: {line[start:][:40]}")


def _scan_braced(line: str, start: int) -> tuple[str, int]:
    stack = [_OPENERS[line[start]]]
    i = start + 1
    while i < len(line) and stack:
        char = line[i]
        if char in {'"', "'"}:
            _, i = _scan_quoted(line, i)
            continue
        if char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char == stack[-1]:
            stack.pop()
        elif char in _OPENERS.values():
            raise SegmentUsageError(f"unbalanced {char!r} in: {line[start:][:60]}")
        i += 1
    if stack:
        raise SegmentUsageError(f"missing {stack[-1]!r} to close: {line[start:][:60]}")
    return line[start:i], i


def tokenize(line: str) -> list[Token]:
    """Words, quoted strings and balanced brace groups; ``--opt=value`` is split.
    An unclosed quote or brace is reported with the option it was meant for."""
    tokens: list[Token] = []
    try:
        _tokenize(line, tokens)
    except SegmentUsageError as exc:
        if tokens and tokens[-1].is_option:
            raise SegmentUsageError(f"{tokens[-1].text}: {exc}") from None
        raise
    return tokens


def _tokenize(line: str, tokens: list[Token]) -> None:
    i = 0
    while i < len(line):
        char = line[i]
        if char.isspace():
            i += 1
        elif char in {'"', "'"}:
            text, i = _scan_quoted(line, i)
            tokens.append(Token(text, "quoted"))
        elif char in {"{", "["}:
            text, i = _scan_braced(line, i)
            tokens.append(Token(text, "braced"))
        else:
            end = i
            while end < len(line) and not line[end].isspace():
                if line.startswith("--", i) and line[end] == "=":
                    break
                end += 1
            tokens.append(Token(line[i:end], "word"))
            i = end + 1 if end < len(line) and line[end] == "=" else end


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SegmentUsageError(f"{self.prog}: {message}")


@dataclass(frozen=True)
class Option:
    """One magic option: ``dest`` is the client's keyword (or a magic-only setting)."""

    flags: tuple[str, ...]
    dest: str
    help: str
    kind: Literal["scalar", "object", "source", "flag", "off", "name", "int"] = "scalar"


@dataclass(frozen=True)
class Parsed:
    values: dict[str, Any]  # dest -> Token | list[Token] | bool | str | int | None
    positional: list[Token]


class MagicSpec:
    """The options and positionals of one magic, and its ``%magic?`` help text."""

    def __init__(
        self,
        name: str,
        description: str,
        options: list[Option],
        positional: str | None = None,
        positional_help: str = "",
        epilog: str = "",
        refused: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.refused = refused or {}  # options other magics take, and why this one does not
        self.positional = positional
        self.parser = _Parser(
            prog=f"%{name}",
            description=description,
            epilog=epilog,
            add_help=False,
            allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if positional:
            self.parser.add_argument(
                "positional", nargs="*", metavar=positional, help=positional_help
            )
        for option in options:
            if option.kind in ("flag", "off"):  # "off": the flag turns a default-on setting off
                action = "store_true" if option.kind == "flag" else "store_false"
                self.parser.add_argument(
                    *option.flags, dest=option.dest, action=action, help=option.help
                )
            else:
                metavar = {"object": "DICT", "source": "DATAFRAME", "name": "VAR", "int": "N"}.get(
                    option.kind, "VALUE"
                )
                self.parser.add_argument(
                    *option.flags, dest=option.dest, metavar=metavar, help=option.help
                )

    @property
    def help(self) -> str:
        return self.parser.format_help()

    def option(self, dest: str) -> Option:
        return next(o for o in self.options if o.dest == dest)

    def parse(self, line: str) -> Parsed:
        line = line.strip()
        if line.endswith(";"):  # `%segment_track ...;` silences output; not an argument
            line = line[:-1].rstrip()
        tokens = tokenize(line)
        argv: list[str] = []
        for index, token in enumerate(tokens):
            argv.append(token.text if token.is_option else f"\x00{index}")
        namespace, unknown = self.parser.parse_known_intermixed_args(argv)
        if unknown:
            self._unknown(unknown, tokens)
        values: dict[str, Any] = {}
        for option in self.options:
            raw = getattr(namespace, option.dest)
            values[option.dest] = raw if option.kind in ("flag", "off") else _token(raw, tokens)
        raw_positional = getattr(namespace, "positional", []) or []
        positional = [t for t in (_token(p, tokens) for p in raw_positional) if t is not None]
        if positional and not self.positional:
            self._unknown([p.text for p in positional], tokens)
        return Parsed(values, positional)

    def _unknown(self, unknown: list[str], tokens: list[Token]) -> NoReturn:
        first = unknown[0]
        shown = tokens[int(first[1:])].text if first.startswith("\x00") else first
        choices = [
            flag for option in self.options for flag in option.flags if flag.startswith("--")
        ]
        guess = shown.split("=", 1)[0].replace("_", "-")
        if guess in self.refused:
            raise SegmentUsageError(f"%{self.name}: {guess} {self.refused[guess]}")
        close = difflib.get_close_matches(guess, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f"; see %{self.name}? for the options"
        what = "unknown option" if shown.startswith("-") else "unexpected argument"
        raise SegmentUsageError(f"%{self.name}: {what} {shown!r}{hint}")


def _token(raw: str | None, tokens: list[Token]) -> Token | None:
    if raw is None:
        return None
    if raw.startswith("\x00"):
        return tokens[int(raw[1:])]
    return Token(raw, "word")  # an option-looking value such as "-5"
