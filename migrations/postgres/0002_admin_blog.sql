-- The admin's sessions and sign-in throttling, and the blog (seed 002), as in
-- migrations/sqlite/0002_admin_blog.sql.

-- One row per signed-in browser. The cookie holds a random 256-bit token; only its SHA-256 is stored, so
-- this table (or a backup of it) lets nobody sign in.
CREATE TABLE admin_session (
    session_token_sha256 BYTEA PRIMARY KEY CHECK (octet_length(session_token_sha256) = 32),
    username             TEXT NOT NULL,
    -- The first 16 bytes of the SHA-256 of the password hash in force at sign-in: a new password hash
    -- ends every older session.
    credential_tag       BYTEA NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    expires_at           TIMESTAMPTZ NOT NULL
);

-- Expired sessions are deleted by range.
CREATE INDEX admin_session_expires_at ON admin_session (expires_at);

-- Failed sign-ins in the current window, per client (`client:ADDRESS`) and per account name
-- (`account:` + a SHA-256 prefix of the lower-cased name, so no names are kept here). Shared by every
-- instance; `INSERT ... ON CONFLICT DO UPDATE` counts concurrent failures exactly.
CREATE TABLE login_throttle (
    throttle_key      TEXT PRIMARY KEY,
    failure_count     BIGINT NOT NULL CHECK (failure_count >= 1),
    window_started_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX login_throttle_window_started_at ON login_throttle (window_started_at);

-- Blog posts. Drafts have no published_at.
CREATE TABLE post (
    -- Insertion order: the tie-breaker of listings.
    post_seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public id admin URLs use.
    post_id       UUID NOT NULL UNIQUE,
    -- The address under /blog/; unique, so two posts can never share one.
    slug          TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND char_length(slug) <= 80),
    -- Counted in characters (Unicode scalar values), as the service counts them.
    title         TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    -- Markdown as the author wrote it; rendered (and sanitized) when shown.
    body_markdown TEXT NOT NULL CHECK (octet_length(body_markdown) <= 100000),
    published_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    -- +1 on every change; an edit names the version it was based on and is refused if it moved on.
    version       BIGINT NOT NULL CHECK (version >= 1)
);

-- Readers' listing and the feed: published posts, newest first.
CREATE INDEX post_published_at ON post (published_at DESC, post_seq DESC) WHERE published_at IS NOT NULL;
-- The admin's listing: most recently changed first.
CREATE INDEX post_updated_at ON post (updated_at DESC, post_seq DESC);
