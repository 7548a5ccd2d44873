"""Text from data as a terminal shows it: every control character visible, none obeyed.

A value, a file or member name, a tenant or a message built from them may hold control
characters: an ESC sequence would colour (or clear) the terminal, a NUL or a vertical tab would
be printed raw or vanish, a CR would move the cursor back over what came before. Printed, each
becomes its escape: tab, LF and CR as `\\t`, `\\n` and `\\r`, every other C0 character, DEL and
every C1 character as `\\xNN` (the form `value.control` issues show), as is a byte of a
name or an argument that is not UTF-8. Backslashes stay as they are. The data itself
(`audit.issues`, a `--report .json`) keeps the characters as they were.

No import here but the standard library: the command line imports this before anything else.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
CONTROL_CHARACTERS: tuple[str, ...] = tuple(
    chr(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
)
# each control character as printed, in the order of CONTROL_CHARACTERS
CONTROL_SHOWN: tuple[str, ...] = tuple(
    _NAMED.get(character, f"\\x{ord(character):02x}") for character in CONTROL_CHARACTERS
)
_TABLE = {ord(c): shown for c, shown in zip(CONTROL_CHARACTERS, CONTROL_SHOWN, strict=True)}
# a byte of a file name or argument that is not UTF-8, which Python holds as a lone surrogate
# (and a terminal cannot be sent): as the byte
_TABLE |= {0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)}


def printable(text: object) -> str:
    """`text` (`str()` of anything else) with each control character as its escape."""
    return str(text).translate(_TABLE)


def one_line(text: str) -> str:
    """`text` with every character a screen does not show escaped as Python writes it
    (`\\n`, `\\x1b`, `\\u200b`): a name whatever a SIS or a person gave it, kept to one line
    where a line break would forge another (a log line, a mail's Subject, an SQL comment)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
