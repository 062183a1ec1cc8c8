-- Seed 004's three tiers, as in migrations/sqlite/0003_users_files.sql: user records, and the metadata of
-- uploaded files (unless STRATUS_FILE_METADATA_URL puts it in DynamoDB).

-- `app_user`, not `user`: `user` is reserved in PostgreSQL.
CREATE TABLE app_user (
    -- Creation order: listings page on it, newest first.
    user_seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public id (UUIDv7) the API hands out.
    user_id    UUID NOT NULL UNIQUE,
    name       TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- As typed (trimmed).
    email      TEXT NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    -- The address in lower case (computed by the service): one record per address whatever its case.
    email_key  TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE file (
    -- Storage order: listings page on it, newest first.
    file_seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public id, which is also the object key: never a client's file name.
    file_id       UUID NOT NULL UNIQUE,
    -- Sanitized for display and Content-Disposition.
    name          TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    size_bytes    BIGINT NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Sniffed from the bytes, never the client's claim.
    content_type  TEXT NOT NULL,
    owner_user_id UUID REFERENCES app_user (user_id),
    created_at    TIMESTAMPTZ NOT NULL
);

-- One owner's files, newest first, without a scan.
CREATE INDEX file_owner_seq ON file (owner_user_id, file_seq DESC);
