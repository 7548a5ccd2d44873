"""The gradebook's records as the OneRoster REST binding's JSON bodies, for `rosterflow grades push`.

The records are the very frames an export writes (`transforms.gradebook.gradebook_files`: one
version's columns, all text). Each becomes its JSON in Polars, one expression per column by
what the binding makes of it:

- a reference column (`classSourcedId`) an object `{"sourcedId": "k1", "type": "class"}` named
  without its suffix (`class`);
- resultValueMin, resultValueMax, score and weight numbers; the 1.2 flags (late, missing)
  booleans;
- assignDate and dueDate DateTimes, the day at 00:00 UTC (the platform keeps days); scoreDate
  a date;
- status `active`; an empty field left out;
- dateLastModified left out of `record`, and added to the body when it is sent (the time of the
  push). So a record unchanged gives the same `record` from one push to the next, and the
  hash of that text tells whether the SIS already holds it (`warehouse.gradebook`).

A line item names its category and a result its line item (`parent`): a push sends categories,
then line items, then results, and holds back a record whose parent the SIS did not accept in
the same push (`split_held`).
"""

from __future__ import annotations

import json

import polars as pl

from rosterflow.schemas.gradebook import (
    JSON_KEYS,
    PUSH_OUTCOME_SCHEMA,
    PUSH_RECORD_SCHEMA,
    REF_TYPES,
    REFUSED_RETRY,
    Gradebook,
)
from rosterflow.schemas.spec import SPECS_BY_VERSION, Column
from rosterflow.schemas.vocabulary import Kind
from rosterflow.transforms.gradebook import gradebook_files

NUMBERS = frozenset({"resultValueMin", "resultValueMax", "score", "weight"})
DATETIMES = frozenset({"assignDate", "dueDate"})
MIDNIGHT = "T00:00:00.000Z"
# the column naming the record a record needs the SIS to hold first
PARENTS = {"lineItems": "categorySourcedId", "results": "lineItemSourcedId"}
PARENT_NAMES = {"lineItems": "category", "results": "line item"}
# a field left empty, as json_encode writes it (the binding's keys are plain words; inside a
# string value every quote is escaped, so the pattern never matches there); never the first
# field, the sourcedId, which is never empty
_EMPTY_FIELD = r',"[A-Za-z]+":null'
HASHED = "body_hash"  # the column of a record's hash, added by the warehouse


def _json_field(column: Column) -> pl.Expr | None:
    """A column of the file as its field of the JSON record; None for dateLastModified."""
    name = column.name
    value = pl.col(name)
    if name == "dateLastModified":
        return None
    if name == "status":
        return value.fill_null("active")
    if column.kind == Kind.REF:
        reference = pl.struct(
            value.alias("sourcedId"), pl.lit(REF_TYPES[column.target or ""]).alias("type")
        )
        return pl.when(value.is_not_null()).then(reference).alias(name.removesuffix("SourcedId"))
    if name in NUMBERS:
        return value.cast(pl.Float64)
    if name in DATETIMES:
        return value + pl.lit(MIDNIGHT)
    if column.kind == Kind.BOOL:
        return value == "true"
    return value


def json_records(name: str, records: pl.LazyFrame, version: str) -> pl.LazyFrame:
    """`PUSH_RECORD_SCHEMA` rows of one file's records (`gradebook_files`' columns)."""
    fields = [
        field
        for column in SPECS_BY_VERSION[version][name].columns
        if (field := _json_field(column)) is not None
    ]
    parent = PARENTS.get(name)
    return records.select(
        pl.lit(JSON_KEYS[name]).alias("entity"),
        pl.col("sourcedId"),
        (pl.col(parent) if parent else pl.lit(None, pl.String)).alias("parent"),
        pl.struct(fields).struct.json_encode().str.replace_all(_EMPTY_FIELD, "").alias("record"),
    ).cast(PUSH_RECORD_SCHEMA)


def push_records(book: Gradebook, version: str) -> dict[str, pl.LazyFrame]:
    """Per OneRoster file, in the order a push sends them, the records as their JSON."""
    return {
        name: json_records(name, records, version)
        for name, records in gradebook_files(book, version).items()
    }


def changed(records: pl.LazyFrame, full: bool = False) -> pl.LazyFrame:
    """The records to send: those whose body the SIS did not last acknowledge (`acknowledged`,
    from the warehouse), or every one with `full`."""
    return records if full else records.filter(~pl.col("acknowledged"))


def split_held(
    records: pl.LazyFrame, answered: pl.LazyFrame, name: str
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The records of file `name` ready to send, and those held back (`PUSH_OUTCOME_SCHEMA`
    and their hash) because the SIS did not accept their parent in this push (`answered`: its
    answers so far, a refusal or a record held back)."""
    not_accepted = answered.filter(pl.col("outcome") != "sent").select(
        pl.col("sourcedId").alias("parent"),
        # unanswered here: a retry refused (a push that stops sends no later file)
        pl.when(pl.col("outcome").is_in(["refused", "unanswered"]))
        .then(pl.lit("refused by the SIS"))
        .otherwise(pl.lit("held back"))
        .alias("why"),
    )
    placed = records.join(not_accepted, on="parent", how="left", maintain_order="left")
    held = placed.filter(pl.col("why").is_not_null()).select(
        "entity",
        "sourcedId",
        pl.lit(None, pl.Int64).alias("status"),
        pl.lit("held").alias("outcome"),
        pl.format(
            "not sent: its {} {} was {}", pl.lit(PARENT_NAMES.get(name, "")), "parent", "why"
        ).alias("reason"),
        HASHED,
    )
    return placed.filter(pl.col("why").is_null()).drop("why"), held


def request_bodies(records: pl.LazyFrame, modified: str) -> pl.LazyFrame:
    """`sourcedId, body` of each record to PUT: `{"<entity>": {<record>, "dateLastModified":
    <modified>}}`, `modified` the push's time (`YYYY-MM-DDTHH:MM:SS.sssZ`)."""
    return records.select(
        "sourcedId",
        pl.concat_str(
            pl.lit('{"'),
            pl.col("entity"),
            pl.lit('":'),
            pl.col("record").str.strip_suffix("}"),
            pl.lit(',"dateLastModified":' + json.dumps(modified) + "}}"),
        ).alias("body"),
    )


def answers(records: pl.LazyFrame, put: pl.LazyFrame) -> pl.LazyFrame:
    """What the SIS answered to each record PUT (`put`: sourcedId, status, outcome, reason),
    with the record's entity and hash: `PUSH_OUTCOME_SCHEMA` and the hash."""
    return put.join(records.select("entity", "sourcedId", HASHED), on="sourcedId").select(
        *PUSH_OUTCOME_SCHEMA, HASHED
    )


def not_accepted(answered: pl.LazyFrame) -> pl.LazyFrame:
    """The records the SIS refused, then those a push held back, each in the order they are
    sent (`JSON_KEYS`) and by sourcedId; not those a push that stopped got no answer to
    (`unanswered`), which no one refused. An `unanswered` record whose retry the SIS refused
    (its reason ends in `REFUSED_RETRY`) is among them: the SIS may hold it from the try
    before, and refused it all the same."""
    order = list(JSON_KEYS.values())
    refused_retry = (pl.col("outcome") == "unanswered") & pl.col("reason").str.ends_with(
        REFUSED_RETRY
    )
    return (
        answered.filter(pl.col("outcome").is_in(["refused", "held"]) | refused_retry)
        .with_columns(pl.col("entity").replace_strict(order, range(len(order))).alias("_order"))
        # refusals first: they are what someone must mend in the SIS, and the report shows
        # only the first rows; a refused line item holds back every result of its column,
        # which would otherwise push the refused results sorted after them out of sight
        .sort(pl.col("outcome") == "held", "_order", "sourcedId")
        .drop("_order")
    )
