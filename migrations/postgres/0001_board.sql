-- The submission board (seed 000) and the visit counter (seed 001), as in migrations/sqlite/0001_board.sql.

-- Every submission ever accepted; rows are only ever inserted.
CREATE TABLE submission (
    -- Order of acceptance: "latest" is the highest (read backwards on the primary key index), and history
    -- cursors point at one.
    submission_seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public id (UUIDv7) the API hands out.
    submission_id  UUID NOT NULL UNIQUE,
    -- Counted in characters (Unicode scalar values), as the service counts them.
    username       TEXT NOT NULL CHECK (char_length(username) BETWEEN 1 AND 64),
    -- Text, never an integer: leading zeros are part of the number.
    number         TEXT NOT NULL CHECK (number ~ '^[0-9]{8}$'),
    -- Microsecond precision, the service's own.
    created_at     TIMESTAMPTZ NOT NULL
);

-- A user's history, newest first, without a scan.
CREATE INDEX submission_username_seq ON submission (username, submission_seq DESC);

-- One row holds the count: reading it is O(1), and `count = count + n` is atomic under the row lock.
CREATE TABLE visit_counter (
    visit_counter_id SMALLINT PRIMARY KEY CHECK (visit_counter_id = 1),
    visit_count      BIGINT NOT NULL CHECK (visit_count >= 0)
);

INSERT INTO visit_counter (visit_counter_id, visit_count) VALUES (1, 0);
