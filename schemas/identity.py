"""Which field of users.csv a user signs in with (`[identity] key`): the platform's login.

Districts choose the field their single sign-on sends: `sourcedId` (the default), `username`,
`userId` (the identifier of the first `{type:identifier}` item of `userIds`), `identifier` or
`email`. Under the chosen key, every user stated in the feed needs a login of their own: an
empty one, or one another user has too (compared as sign-in compares them, `same_login`:
trimmed, in any letter case, with an accent stored either way alike, without the characters a
screen does not show), is an error on that row. The login stored is the value as the SIS sends
it, trimmed: only the comparisons ignore letter case, how an accent is stored and those
characters.
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from

IDENTITY_KEYS: dict[str, str] = {  # key -> the users.csv column it reads
    "sourcedId": "sourcedId",
    "username": "username",
    "userId": "userIds",
    "identifier": "identifier",
    "email": "email",
}


def login(key: str) -> pl.Expr:
    """A user's login under `key`, from a users frame (null when empty)."""
    if key == "userId":
        # "{LDAP:12},{LTI:15}": the identifier of the first item
        value = pl.col("userIds").str.extract(r"^\s*\{[^:}]*:([^}]*)\}", 1)
    else:
        value = pl.col(IDENTITY_KEYS[key])
    value = value.str.strip_chars()
    return pl.when(value != "").then(value).alias("login")


# the Unicode normal form sign-in compares logins in: composed, so that `é` typed as one
# character and as `e` and a combining accent are one login; not NFKC, which would make a
# fullwidth `ｊｏｓｅ` (or `ﬁ` and `fi`) one login too, where sign-in pages tell them apart
SIGN_IN_FORM = "NFC"


# a character a screen shows as nothing: a format character (Unicode category Cf: a soft
# hyphen U+00AD, a zero-width space U+200B, a zero-width non-joiner or joiner U+200C/U+200D, a
# word joiner U+2060, a byte-order mark U+FEFF, a direction mark). A login holding one looks
# like the login without it, which its user types: sign-in compares logins without them. (A
# control character is an error of the CSV reading already, `value.control`.) All are beyond
# ASCII
INVISIBLE_CHARACTER = r"\p{Cf}"

# Greek's final sigma, which lower case writes at a word's end (`ΟΔΥΣΣΕΥΣ` is `οδυσσευς`) and
# a person may type as `σ` all the same: both are `Σ` in capitals, so one letter in any letter
# case (Unicode case folding), where Turkish dotted and dotless i are not (`İ` is `i` and a
# combining dot), nor `ß` and `ss` (a letter of its own, which adoption alone matches)
FINAL_SIGMA, SIGMA = "\u03c2", "\u03c3"


def same_login(login: pl.Expr) -> pl.Expr:
    """A login as sign-in compares it: trimmed, in lower case (a final sigma as any sigma),
    composed, without the characters a screen does not show (`JSmith` and ` jsmith` are one
    login; so are `José` typed composed and decomposed, the same text to Unicode, and
    `ann@x.org` with a zero-width space after it); null when nothing but such characters is
    left. Login changes, adoption, the logins new users share with accounts made by hand, and
    shared logins among a tenant's users (`with_comparable_login`) compare them so."""
    return _visible_composed(login.str.strip_chars().str.to_lowercase())


def with_comparable_login(users: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """`users` with `__login`: each user's login under `key` as sign-in compares it
    (`same_login`), null when empty (or of characters a screen does not show alone); the
    shared-login checks' comparison, a pass over every user of every feed (a million at a
    large district)."""
    return (
        # (two steps: Polars would compute the login three times in one expression)
        users.with_columns(login(key).str.to_lowercase().alias("__login")).with_columns(
            _visible_composed(pl.col("__login")).alias("__login")
        )
    )


def _visible_composed(logins: pl.Expr) -> pl.Expr:
    """`logins` (trimmed and in lower case) as `same_login` compares them: without the
    characters a screen does not show, trimmed again (`ann \\u200b` is `ann`), composed, a
    final sigma as any sigma; null when nothing is left. ASCII text holds no such character
    and is in every normal form already: only the others are searched and composed, as
    composing a million logins takes 0.2 s, and finding the few that are not ASCII 5 ms."""
    not_ascii = logins.str.len_bytes() != logins.str.len_chars()
    # (null where ASCII: searching and normalizing a null costs nothing)
    visible = (
        pl.when(not_ascii)
        .then(logins)
        .str.replace_all(INVISIBLE_CHARACTER, "")
        .str.strip_chars()
        .str.normalize(SIGN_IN_FORM)
        .str.replace_all(FINAL_SIGMA, SIGMA, literal=True)
    )
    return pl.when(not_ascii).then(pl.when(visible != "").then(visible)).otherwise(logins)


def login_issues(users: pl.DataFrame, key: str, changed: int | None = None) -> list[pl.LazyFrame]:
    """Errors for the users (rows stating a record, with `__line`) whose login under `key` is
    empty or shared with another of them (naming the others, to find them in the file).

    Of users read by their changed lines, `changed` says how many rows, from the first, are
    those lines'; the others are kept records, of which none lacks a login nor shares one
    with another kept record alone (`schemas.references.ChangedLines`): only those sharing
    the login of a changed line's user are looked at, sparing the search for shared logins
    among every user."""
    if key == "sourcedId":
        # required and unique already. Two sourcedIds that differ only in letter case would be
        # one login to a sign-in that ignores case, but OneRoster's identifiers are
        # case-sensitive and such pairs are not seen in SIS exports: not worth a pass over
        # every user of every feed (0.26 s per million users). The login is trimmed, though:
        # `u1` and `u1 ` are two records and one login
        return [_trimmed_sourced_id_issues(users)]
    column = IDENTITY_KEYS[key]
    found = pl.col("__login").is_not_null()
    # (once: the missing ones and the shared ones are both read from it)
    looked_at = users if changed is None else users.slice(0, changed)
    with_login = with_comparable_login(looked_at.lazy(), key).collect()
    missing = with_login.lazy().filter(~found)
    sharing = with_login.lazy().filter(found)
    if changed is not None:
        logins = with_login.get_column("__login").drop_nulls().unique().implode()
        kept = with_comparable_login(users.slice(changed).lazy(), key)
        sharing = pl.concat([sharing, kept.filter(pl.col("__login").is_in(logins))])
    # the users sharing a login (a few, if any) in one chunk: Polars' set difference of two
    # list columns (`_others_sharing`) panics on rows in several chunks (`index out of
    # bounds`), as the kept records of a file read by its changed lines come (in the chunks
    # of the stored records: a file's base, then its patches)
    shared = sharing.filter(pl.col("__login").is_duplicated()).collect().rechunk().lazy()
    return [
        _login_issues(
            missing,
            key,
            "identity.login_missing",
            _missing_reason(key),
        ),
        _login_issues(
            # (the others are named among the rows sharing a login alone)
            shared.with_columns(_others_sharing()),
            key,
            "identity.login_duplicate",
            pl.concat_str(
                pl.format(f"another user signs in with this {column} too ({{}})", "__others"),
                _look_alike_hints(key),
                _first_identifier_hint(key),
            ),
        ),
    ]


def _trimmed_sourced_id_issues(users: pl.DataFrame) -> pl.LazyFrame:
    """Under the key `sourcedId`, the users whose login, their sourcedId trimmed, is another
    user's: found from the few sourcedIds that spaces surround (`id.spaces` warns of each),
    so that a feed without any pays one look at the column."""
    trimmed = pl.col("sourcedId").str.strip_chars()
    spaced = users.lazy().filter(pl.col("sourcedId") != trimmed).select(trimmed).collect()
    if spaced.height == 0:
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    logins = spaced.to_series().unique().implode()
    shared = (
        users.lazy()
        .select(LINE, "sourcedId", trimmed.alias("__login"))
        .filter(pl.col("__login").is_in(logins))
        .filter(pl.col("__login").is_duplicated())
        .collect()
        .rechunk()  # (see `login_issues`: `_others_sharing` panics on rows in several chunks)
        .lazy()
    )
    return _login_issues(
        shared.with_columns(_others_sharing()),
        "sourcedId",
        "identity.login_duplicate",
        pl.format(
            "another user signs in with this sourcedId too ({}): a login is its value without "
            "the spaces around it",
            "__others",
        ),
    )


# under `[identity] key = "userId"` the login is one part of userIds, which its messages name
FIRST_IDENTIFIER = "the identifier of the first {type:identifier} item of userIds"


def _missing_reason(key: str) -> pl.Expr:
    """Why a user has no login: an empty field, or a field that gives none although it is not
    empty (a userIds whose first item has an empty identifier, `{LDAP:}`; a value of characters
    a screen does not show alone), which the row's value would seem to contradict."""
    column = IDENTITY_KEYS[key]
    stated = pl.col(column).str.strip_chars()
    if key == "userId":
        given = f"a user signs in with {FIRST_IDENTIFIER}, and this user's gives none"
    else:
        given = (
            f"this user's {column} holds only characters a screen does not show, which sign-in "
            "leaves out: nothing is left to sign in with"
        )
    return (
        pl.when(stated.is_not_null() & (stated != ""))
        .then(pl.lit(given))
        .otherwise(pl.lit(f"this user has no {column} to sign in with"))
    )


def _first_identifier_hint(key: str) -> pl.Expr:
    """Under the key `userId`, the login a shared userIds signs in with, where the rows sharing
    it state userIds that differ otherwise (`{LDAP:12},{LTI:15}` and `{SIS:12}` are one login,
    `12`, which neither value shows as such). Said on the rows sharing a login alone (a few)."""
    if key != "userId":
        return pl.lit("")
    apart = same_login(pl.col("userIds")).n_unique().over("__login") > 1
    return (
        pl.when(apart)
        .then(
            pl.concat_str(pl.lit(f"; a user signs in with {FIRST_IDENTIFIER}, here "), login(key))
        )
        .otherwise(pl.lit(""))
    )


def looks_alike(stated: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Why the login `stated` (in lower case) is the login compared (`__login`) although it
    prints otherwise, as two flags: its accents stored as marks of their own (composing it
    changes it), and a character a screen does not show in it."""
    visible = (
        stated.str.replace_all(INVISIBLE_CHARACTER, "")
        .str.strip_chars()
        .str.replace_all(FINAL_SIGMA, SIGMA, literal=True)
    )
    return visible != pl.col("__login"), stated.str.contains(INVISIBLE_CHARACTER)


def _look_alike_hints(key: str) -> pl.Expr:
    """Why a login that looks like another's in every letter is shared all the same: `josé`
    with its accent stored as a mark of its own prints as `josé` typed as one character, and
    sign-in reads the two alike; `ann@x.org` with a zero-width space in it prints as
    `ann@x.org`, and sign-in compares logins without it. Said on the rows whose login composing
    or leaving such characters out changes (a few: the rows sharing a login alone)."""
    decomposed, invisible = looks_alike(login(key).str.to_lowercase())
    return pl.concat_str(
        pl.when(decomposed)
        .then(
            pl.lit(
                "; its accents are stored as marks after their letters (Unicode NFD), "
                "which sign-in reads as the accented letters"
            )
        )
        .otherwise(pl.lit("")),
        pl.when(invisible)
        .then(pl.lit("; it holds a character a screen does not show, which sign-in leaves out"))
        .otherwise(pl.lit("")),
    )


def _others_sharing(shown: int = 3) -> pl.Expr:
    """The sourcedIds of the other users whose login is the same as each row's (`__login`), as
    a message names them: `u2, u7, u9 and 4 more`. (Not their lines: a run by changed lines
    stands stored records in on lines of their own, `schemas.by_lines`, and places only the
    issue itself on the record's line.)"""
    others = (
        pl.col("sourcedId")
        .implode()
        .over("__login")
        .list.set_difference(pl.concat_list("sourcedId"))
        .list.sort()
    )
    more = others.list.len().cast(pl.Int64) - shown
    return pl.concat_str(
        others.list.head(shown).list.join(", "),
        pl.when(more > 0).then(pl.format(" and {} more", more)).otherwise(pl.lit("")),
    ).alias("__others")


def _login_issues(flagged: pl.LazyFrame, key: str, rule: str, message: pl.Expr) -> pl.LazyFrame:
    """An error on each `flagged` user's row, naming the field they sign in with."""
    column = IDENTITY_KEYS[key]
    return issues_from(
        flagged,
        file="users.csv",
        field=column,
        value=pl.col(column),
        rule=rule,
        severity="error",
        message=pl.concat_str(pl.lit(f"[identity] key = {key!r}: "), message),
    )
