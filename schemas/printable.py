"""Text from data as a terminal shows it: every control character visible, none obeyed.

A value, a file or member name, a tenant or a message built from them may hold control
characters: an ESC sequence would colour (or clear) the terminal, a NUL or a vertical tab would
be printed raw or vanish, a CR would move the cursor back over what came before. Printed, each
becomes its escape: tab, LF and CR as `\\t`, `\\n` and `\\r`, every other C0 character, DEL and
every C1 character as `\\xNN` (the form `value.control` issues show), as is a byte of a
name or an argument that is not UTF-8; each bidirectional embedding, override and isolate
(U+202A to U+202E, U+2066 to U+2069) as `\\uNNNN`, since a terminal or a spreadsheet that
lays out right-to-left text obeys it to the end of the line: a role sent as `\\u202erehcaet`
would print as `teacher`, and the rest of its issue's line backwards. (Arabic or Hebrew
letters, and the marks U+200E, U+200F and U+061C, which steer the one character beside them,
print as they are.) Backslashes stay as they are. The data itself
(`audit.issues`, a `--report .json`) keeps the characters as they were.

No import here but the standard library: the command line imports this before anything else.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# the bidirectional formatting characters that last until the end of a line (or their pop):
# a value's would turn over what comes after it, the next columns and the message
BIDI_CONTROLS: tuple[str, ...] = tuple(map(chr, (*range(0x202A, 0x202F), *range(0x2066, 0x206A))))
CONTROL_CHARACTERS: tuple[str, ...] = (
    *(chr(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))),
    *BIDI_CONTROLS,
)


def _escape(character: str) -> str:
    """`character` as printed: by its name, else by its code, in the fewest hex digits."""
    code = ord(character)
    return _NAMED.get(character, f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


# each control character as printed, in the order of CONTROL_CHARACTERS
CONTROL_SHOWN: tuple[str, ...] = tuple(map(_escape, CONTROL_CHARACTERS))
_TABLE = {ord(c): shown for c, shown in zip(CONTROL_CHARACTERS, CONTROL_SHOWN, strict=True)}
# a byte of a file name or argument that is not UTF-8, which Python holds as a lone surrogate
# (and a terminal cannot be sent): as the byte
_TABLE |= {0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)}


def printable(text: object) -> str:
    """`text` (`str()` of anything else) with each control character as its escape."""
    return str(text).translate(_TABLE)


def encodes_as(text: str, encoding: str = "utf-8") -> bool:
    """Whether `text` can be written in `encoding`: a name or argument holding a byte that is
    not UTF-8 (which Python holds as a lone surrogate) cannot be in UTF-8, a typographic quote
    cannot be in Latin-1."""
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def every_character_shown(text: object) -> str:
    """`printable(text)`, and each character a screen shows as nothing (a format character,
    Unicode category Cf: a zero-width space, a byte-order mark, a soft hyphen, a joiner, a
    direction mark) escaped as Python writes it (`\\u200b`): a value an issue names, where
    such a character may be what is wrong (`student` and a zero-width space is no role,
    printed as it is it would read `'student'` beside "must be one of: ... student")."""
    shown = printable(text)
    if shown.isascii():
        return shown
    return "".join(ascii(c)[1:-1] if unicodedata.category(c) == "Cf" else c for c in shown)


def one_line(text: str) -> str:
    """`text` with every character a screen does not show escaped as Python writes it
    (`\\n`, `\\x1b`, `\\u200b`): a name whatever a SIS or a person gave it, kept to one line
    where a line break would forge another (a log line, a mail's Subject, an SQL comment). A
    byte of a name that is not UTF-8 is `\\xNN`, as `printable` shows it: a mail cannot be
    sent with it as it is."""
    return "".join(c if c.isprintable() else _TABLE.get(ord(c)) or ascii(c)[1:-1] for c in text)
