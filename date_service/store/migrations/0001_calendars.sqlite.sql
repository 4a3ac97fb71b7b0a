-- Custom calendars, one row each; the list fields are JSON arrays (text), the times
-- microseconds since the Unix epoch, UTC.
CREATE TABLE calendars (
    calendar_id TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    display_name TEXT NOT NULL,
    base_calendars TEXT NOT NULL,
    weekend_days TEXT NOT NULL,
    extra_holidays TEXT NOT NULL,
    removed_holidays TEXT NOT NULL,
    revision INTEGER NOT NULL CHECK (revision >= 1),
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

-- The answer to each create that carried a request id, so that a retry gets it again;
-- rows older than a day are pruned by later creates.
CREATE TABLE calendar_requests (
    request_id TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    create_time INTEGER NOT NULL
);
CREATE INDEX calendar_requests_create_time ON calendar_requests (create_time);
