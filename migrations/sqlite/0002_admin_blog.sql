-- The admin's sessions and sign-in throttling, and the blog (seed 002). As migrations/postgres/0002_admin_blog.sql.

-- One row per signed-in browser. The cookie holds a random 256-bit token; only its SHA-256 is stored, so
-- this table (or a backup of it) lets nobody sign in.
CREATE TABLE admin_session (
    session_token_sha256 BLOB PRIMARY KEY CHECK (length(session_token_sha256) = 32),
    username             TEXT NOT NULL,
    -- The first 16 bytes of the SHA-256 of the password hash in force at sign-in: a new password hash
    -- ends every older session.
    credential_tag       BLOB NOT NULL,
    -- RFC 3339 UTC with six fractional digits: fixed width, so it compares as time.
    created_at           TEXT NOT NULL,
    expires_at           TEXT NOT NULL
) STRICT;

-- Expired sessions are deleted by range.
CREATE INDEX admin_session_expires_at ON admin_session (expires_at);

-- Failed sign-ins in the current window, per client (`client:ADDRESS`) and per account name
-- (`account:` + a SHA-256 prefix of the lower-cased name, so no names are kept here).
CREATE TABLE login_throttle (
    throttle_key      TEXT PRIMARY KEY,
    failure_count     INTEGER NOT NULL CHECK (failure_count >= 1),
    window_started_at TEXT NOT NULL
) STRICT;

CREATE INDEX login_throttle_window_started_at ON login_throttle (window_started_at);

-- Blog posts. Drafts have no published_at.
CREATE TABLE post (
    -- Insertion order: the tie-breaker of listings.
    post_seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The public id (UUIDv7 text) admin URLs use.
    post_id       TEXT NOT NULL UNIQUE,
    -- The address under /blog/; unique, so two posts can never share one.
    slug          TEXT NOT NULL UNIQUE
                  CHECK (length(slug) BETWEEN 1 AND 80 AND slug NOT GLOB '*[^a-z0-9-]*'),
    title         TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    -- Markdown as the author wrote it; rendered (and sanitized) when shown.
    body_markdown TEXT NOT NULL CHECK (length(CAST(body_markdown AS BLOB)) <= 100000),
    published_at  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- +1 on every change; an edit names the version it was based on and is refused if it moved on.
    version       INTEGER NOT NULL CHECK (version >= 1)
) STRICT;

-- Readers' listing and the feed: published posts, newest first.
CREATE INDEX post_published_at ON post (published_at DESC, post_seq DESC) WHERE published_at IS NOT NULL;
-- The admin's listing: most recently changed first.
CREATE INDEX post_updated_at ON post (updated_at DESC, post_seq DESC);
