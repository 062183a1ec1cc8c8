"""schemathesis hooks for the Stratus API fuzz run (loaded through SCHEMATHESIS_HOOKS).

One generator extension, nothing filtered out and no check turned off:

A listing cursor is an opaque token that only the service can issue (`next_cursor`). The OpenAPI
document gives its shape (`^[A-Za-z0-9_-]{1,2048}$`), but no schema can say "one we issued", so a
random string of that shape is schema-valid yet rightly refused with 400, and schemathesis's
`positive_data_acceptance` check reports it. schemathesis's advice for such a mismatch is to extend the
generator to follow the runtime rule; so every generated cursor of valid shape that the service could
not have issued is replaced by one it could have (that listing's PostgreSQL encoding: the stack
runs on PostgreSQL). Cursors of invalid shape (the negative cases) and the real cursors that the stateful phase
follows from `next_cursor` are left exactly as they are.
"""

import base64
import hashlib
import re

import schemathesis

SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,2048}$")
# Each listing tags its cursors (the stack runs on PostgreSQL): the board's history, the files and the users.
TAGS = {"/api/v1/files": "files-postgres:", "/api/v1/users": "users-postgres:"}
DEFAULT_TAG = "postgres:"


def _tag(context) -> str:
    operation = getattr(context, "operation", None)
    return TAGS.get(getattr(operation, "path", None), DEFAULT_TAG)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _could_be_issued(token: str, tag: str) -> bool:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    issued = re.compile("^" + re.escape(tag) + r"[1-9][0-9]{0,17}$")
    return bool(issued.match(text)) and _b64(text) == token


@schemathesis.hook
def map_query(context, query):
    cursor = query.get("cursor") if isinstance(query, dict) else None
    tag = _tag(context)
    if isinstance(cursor, str) and SHAPE.match(cursor) and not _could_be_issued(cursor, tag):
        # Deterministic, so a failure replays the same request.
        position = int.from_bytes(hashlib.sha256(cursor.encode()).digest()[:7], "big") + 1
        query = {**query, "cursor": _b64(f"{tag}{position}")}
    return query
