-- The submission board (seed 000) and the visit counter (seed 001).

-- Every submission ever accepted; rows are only ever inserted.
CREATE TABLE submission (
    -- Order of acceptance: "latest" is the highest, and history cursors point at one.
    submission_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The public id (UUIDv7 text) the API hands out.
    submission_id  TEXT NOT NULL UNIQUE,
    username       TEXT NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    -- Text, never an integer: leading zeros are part of the number.
    number         TEXT NOT NULL CHECK (length(number) = 8 AND number NOT GLOB '*[^0-9]*'),
    -- RFC 3339 UTC with six fractional digits: fixed width, so it sorts as time.
    created_at     TEXT NOT NULL
) STRICT;

-- A user's history, newest first, without a scan.
CREATE INDEX submission_username_seq ON submission (username, submission_seq DESC);

-- One row holds the count: reading it is O(1), and `count = count + n` is atomic.
CREATE TABLE visit_counter (
    visit_counter_id INTEGER PRIMARY KEY CHECK (visit_counter_id = 1),
    visit_count      INTEGER NOT NULL CHECK (visit_count >= 0)
) STRICT;

INSERT INTO visit_counter (visit_counter_id, visit_count) VALUES (1, 0);
