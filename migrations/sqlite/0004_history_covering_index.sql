-- A user's history page read from the index alone. Users' rows interleave in the table, so the ten rows of
-- one page of a user sat on ten different table pages once the table was large: at a million rows the page
-- took 20 % longer than at ten (issue 9's scaling check). With every column the page returns in the index,
-- the rows of a page sit together in it, whatever the table's size. PostgreSQL keeps its index as it is:
-- an index-only scan there depends on the visibility map, and its scaling is not what was slow.
CREATE INDEX submission_username_history
    ON submission (username, submission_seq DESC, submission_id, number, created_at);
DROP INDEX submission_username_seq;
