-- Seed 004's three tiers: user records, and the metadata of uploaded files (unless
-- STRATUS_FILE_METADATA_URL puts it in DynamoDB). The bytes live in the object store under file_id.

-- `app_user`, not `user`: the same name on both engines, and `user` is reserved in PostgreSQL.
CREATE TABLE app_user (
    -- Creation order: listings page on it, newest first.
    user_seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The public id (UUIDv7 text) the API hands out.
    user_id    TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- As typed (trimmed).
    email      TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    -- lower(email): one record per address whatever its case. The service computes it (SQLite's lower()
    -- folds ASCII only).
    email_key  TEXT NOT NULL UNIQUE,
    -- RFC 3339 UTC with six fractional digits: fixed width, so it sorts as time.
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE file (
    -- Storage order: listings page on it, newest first.
    file_seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The public id (UUIDv7 text), which is also the object key: never a client's file name.
    file_id       TEXT NOT NULL UNIQUE,
    -- Sanitized for display and Content-Disposition.
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT NOT NULL CHECK (length(sha256) = 64),
    -- Sniffed from the bytes, never the client's claim.
    content_type  TEXT NOT NULL,
    owner_user_id TEXT REFERENCES app_user (user_id),
    created_at    TEXT NOT NULL
) STRICT;

-- One owner's files, newest first, without a scan.
CREATE INDEX file_owner_seq ON file (owner_user_id, file_seq DESC);
