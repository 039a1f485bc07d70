"""The one check of every name that can reach SQL text: tables, catalogs, Unity Catalog parts.

Table and catalog names come from the command line, settings files and ``ASTROLAKE_*`` variables,
notebook widgets and job parameters; they end up in SQL (``OPTIMIZE``, ``CREATE TABLE``,
``SHOW TBLPROPERTIES``) and in folder names under ``base_path``.  So a name is an *identifier*:
1 to 255 ASCII letters, digits and ``_``, not starting with a digit (:data:`IDENTIFIER`).  That
refuses SQL (``x; DROP TABLE y``), quotes and backticks, paths (``a/b``, ``..``) and Unicode
lookalikes, so a table name can neither change a statement nor leave ``base_path``.

Where a name goes into SQL text it is also quoted (:func:`quote_identifier`): a Unity Catalog
name as three backtick-quoted parts, a local table as ``delta.`<folder>``` with every backtick of
the folder doubled (Spark SQL's escape), so a ``base_path`` holding a backtick cannot end the
identifier either.

An explicit Delta folder (an absolute path, local lakes only) is the user's own choice, like an
``--out`` folder: :func:`check_delta_path` only refuses relative paths, ``..`` segments and control
characters.

>>> check_identifier("silver_sdss_dr14_skyserver", "table name")
'silver_sdss_dr14_skyserver'
>>> check_identifier("x; DROP TABLE y", "table name")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
astrolake.names.IdentifierError: table name 'x; DROP TABLE y' refused: it holds ';' (a name is ASCII letters, ...)
>>> quote_identifier("we`ird")
'`we``ird`'
"""

from __future__ import annotations

import re

from astrolake.errors import UserError

__all__ = [
    "IDENTIFIER",
    "IdentifierError",
    "check_delta_path",
    "check_identifier",
    "is_delta_path",
    "quote_identifier",
]

#: what a table, catalog or Unity Catalog name may be (ASCII only: ``[A-Za-z]`` is not ``\w``)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
MAX_LENGTH = 255
_RULE = "a name is ASCII letters, digits and _, 1-255 long, not starting with a digit"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class IdentifierError(UserError, ValueError):
    """A name refused before it reaches SQL or the file system (exit 1 from the CLI)."""


def _shown(value: object) -> str:
    """``value`` as one short line: repr escapes newlines and control characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _char(ch: str) -> str:
    return repr(ch) if ch.isascii() else f"{ch!r} (U+{ord(ch):04X}, not ASCII)"


def check_identifier(value: object, what: str = "name") -> str:
    """``value`` when it matches :data:`IDENTIFIER`; else an :class:`IdentifierError` whose one
    line names ``what`` was refused and why."""
    if not isinstance(value, str):
        raise IdentifierError(f"{what} {_shown(value)} refused: not a string")
    if IDENTIFIER.fullmatch(value):
        return value
    if not value:
        why = "it is empty"
    elif len(value) > MAX_LENGTH:
        why = f"it is {len(value)} characters long"
    elif value[0].isascii() and value[0].isdigit():
        why = "it starts with a digit"
    else:
        bad = next(ch for ch in value if not (ch == "_" or (ch.isascii() and ch.isalnum())))
        why = f"it holds {_char(bad)}"
    raise IdentifierError(f"{what} {_shown(value)} refused: {why} ({_RULE})")


def quote_identifier(value: str) -> str:
    """``value`` as one backtick-quoted SQL identifier part, embedded backticks doubled.

    >>> quote_identifier("main"), quote_identifier("/tmp/a`b")
    ('`main`', '`/tmp/a``b`')
    """
    if not isinstance(value, str) or not value:
        raise IdentifierError(f"cannot quote {_shown(value)}: an identifier is a non-empty string")
    if "\x00" in value:
        raise IdentifierError(f"cannot quote {_shown(value)}: it holds a NUL character")
    return "`" + value.replace("`", "``") + "`"


def is_delta_path(value: str) -> bool:
    """Whether a table argument is an explicit Delta folder (an absolute path) rather than a name."""
    return isinstance(value, str) and value.startswith("/")


def check_delta_path(value: str, what: str = "table path") -> str:
    """An explicit Delta folder: absolute, without ``..`` segments or control characters.

    >>> check_delta_path("/data/lake/silver_x")
    '/data/lake/silver_x'
    >>> check_delta_path("/data/../etc")
    Traceback (most recent call last):
    ...
    astrolake.names.IdentifierError: table path '/data/../etc' refused: it has a '..' segment
    """
    if not is_delta_path(value):
        raise IdentifierError(f"{what} {_shown(value)} refused: not an absolute path")
    if _CONTROL.search(value):
        raise IdentifierError(f"{what} {_shown(value)} refused: it holds a control character")
    if ".." in value.split("/"):
        raise IdentifierError(f"{what} {_shown(value)} refused: it has a '..' segment")
    return value
