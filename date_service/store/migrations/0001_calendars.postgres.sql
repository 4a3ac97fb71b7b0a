-- Custom calendars, one row each; the list fields are JSON arrays.
-- Ids sort by code point ("C"), as SQLite's and Python's strings do, so that pages
-- are the same whatever the database's default collation.
CREATE TABLE calendars (
    calendar_id text COLLATE "C" PRIMARY KEY,
    uid text NOT NULL,
    display_name text NOT NULL,
    base_calendars jsonb NOT NULL,
    weekend_days jsonb NOT NULL,
    extra_holidays jsonb NOT NULL,
    removed_holidays jsonb NOT NULL,
    revision bigint NOT NULL CHECK (revision >= 1),
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL
);

-- The answer to each create that carried a request id, so that a retry gets it again;
-- rows older than a day are pruned by later creates.
CREATE TABLE calendar_requests (
    request_id text PRIMARY KEY,
    response jsonb NOT NULL,
    create_time timestamptz NOT NULL
);
CREATE INDEX calendar_requests_create_time ON calendar_requests (create_time);
