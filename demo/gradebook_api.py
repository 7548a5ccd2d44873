"""A SIS's OneRoster gradebook service (1.1 or 1.2) taking PUTs, for trying `rosterflow grades
push`, for the tests and for the push benchmark.

`GradebookApi` is a small ASGI app (`demo.api.OAuthApp`: the same `/token` endpoint and
`fault` hook as the roster API) that keeps what it is sent. A PUT to
`<base>/{categories|lineItems|results}/<sourcedId>` with `{"category": {...}}`,
`{"lineItem": {...}}` or `{"result": {...}}` is checked as a strict SIS would:

- the body is the record under its key, its sourcedId the one in the URL, every field the
  binding requires present, each reference an object with sourcedId and type;
- a line item's category and a result's line item are records it holds already (422
  otherwise), so records sent out of order are refused;

then stored: 201 when new, 200 when it replaces one. `refuse` answers chosen records as a SIS
that will not take them (403 a locked grade, 409 a conflict), with an `imsx_description`. A GET of
the same URL returns the record.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from contextlib import suppress

from rosterflow.demo.api import OAuthApp, serving

BASE_PATHS = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/gradebook/v1p2"}
KEYS = {"categories": "category", "lineItems": "lineItem", "results": "result"}
REQUIRED = {
    "category": ("sourcedId", "status", "dateLastModified", "title"),
    "lineItem": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "assignDate",
        "dueDate",
        "class",
        "category",
        "resultValueMin",
        "resultValueMax",
    ),
    "result": ("sourcedId", "status", "dateLastModified", "lineItem", "student", "scoreStatus"),
}
REFERENCES = ("class", "category", "gradingPeriod", "academicSession", "school", "lineItem")
# the reference that must name a record already held, and where
PARENTS = {"lineItem": ("category", "categories"), "result": ("lineItem", "lineItems")}


def status_info(status: int, description: str) -> tuple[int, dict[str, str], bytes]:
    """An error answer with the OneRoster status info in its body."""
    body = {"imsx_codeMajor": "failure", "imsx_severity": "error"}
    return status, {}, json.dumps(body | {"imsx_description": description}).encode()


class GradebookApi(OAuthApp):
    """An ASGI app taking a gradebook's PUTs at the `version`'s base path."""

    def __init__(
        self,
        version: str = "1.1",
        *,
        client: tuple[str, str] | None = None,
        refuse: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(client)
        self.version = version
        self.base_path = BASE_PATHS[version]
        # sourcedId -> (status, description) to answer its PUTs with
        self.refuse: dict[str, tuple[int, str]] = dict(refuse or {})
        # collection -> sourcedId -> the record held, as sent
        self.records: dict[str, dict[str, dict]] = {name: {} for name in KEYS}
        self.puts: list[tuple[str, str]] = []  # (collection, sourcedId) of every PUT stored

    def _serve(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = path.removeprefix(self.base_path).strip("/").split("/")
        if not path.startswith(self.base_path + "/") or len(parts) != 2 or parts[0] not in KEYS:
            return status_info(404, "not found")
        collection, sourced_id = parts
        key = KEYS[collection]
        if method == "GET":
            held = self.records[collection].get(sourced_id)
            if held is None:
                return status_info(404, f"no {key} {sourced_id}")
            return 200, {}, json.dumps({key: held}).encode()
        if method != "PUT":
            return status_info(405, f"{method} is not supported")
        if sourced_id in self.refuse:
            return status_info(*self.refuse[sourced_id])
        try:
            record = json.loads(body).get(key)
        except (ValueError, AttributeError):
            record = None
        if not isinstance(record, dict):
            return status_info(400, f'the body is no {{"{key}": {{...}}}}')
        wrong = self._invalid(key, sourced_id, record)
        if wrong:
            return status_info(400, wrong)
        if key in PARENTS:
            field, parents = PARENTS[key]
            named = record[field]["sourcedId"]
            if named not in self.records[parents]:
                return status_info(422, f"{field} {named} is unknown")
        created = sourced_id not in self.records[collection]
        self.records[collection][sourced_id] = record
        self.puts.append((collection, sourced_id))
        return (201 if created else 200), {}, json.dumps({key: record}).encode()

    @staticmethod
    def _invalid(key: str, sourced_id: str, record: dict) -> str:
        """What makes the record one a SIS refuses; empty when none."""
        if record.get("sourcedId") != sourced_id:
            return f"the sourcedId is not {sourced_id}"
        missing = [field for field in REQUIRED[key] if record.get(field) is None]
        if missing:
            return f"missing: {', '.join(missing)}"
        bad = [
            field
            for field in REFERENCES
            if field in record
            and not (
                isinstance(record[field], dict)
                and isinstance(record[field].get("sourcedId"), str)
                and isinstance(record[field].get("type"), str)
            )
        ]
        if bad:
            return f"not a reference {{sourcedId, type}}: {', '.join(bad)}"
        return ""


def main(argv: list[str]) -> None:
    """`python -m rosterflow.demo.gradebook_api [--version 1.1|1.2] [--port P]`: take a
    gradebook's PUTs until interrupted, printing the base URL first (an open API: no token
    asked), then how many records of each kind it holds."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rosterflow.demo.gradebook_api")
    parser.add_argument("--version", choices=("1.1", "1.2"), default="1.1")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args(argv)
    app = GradebookApi(options.version)
    with serving(app, port=options.port) as root:
        print(root + app.base_path, flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
    print(", ".join(f"{len(held):,} {name}" for name, held in app.records.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
