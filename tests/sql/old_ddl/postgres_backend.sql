CREATE TABLE IF NOT EXISTS "evtsrc_events" (
    position bigint PRIMARY KEY,
    stream varchar(200) NOT NULL,
    aggregate_id varchar(200) NOT NULL,
    version integer NOT NULL,
    type varchar(200) NOT NULL,
    data jsonb NOT NULL,
    timestamp timestamptz NOT NULL,
    CONSTRAINT "evtsrc_events_version_uq" UNIQUE (stream, aggregate_id, version)
);
CREATE INDEX IF NOT EXISTS "evtsrc_events_stream_ix" ON "evtsrc_events" (stream, position);
CREATE TABLE IF NOT EXISTS "evtsrc_snapshots" (
    stream varchar(200) NOT NULL,
    aggregate_id varchar(200) NOT NULL,
    version integer NOT NULL,
    key varchar(200) NOT NULL,
    state jsonb NOT NULL,
    PRIMARY KEY (stream, aggregate_id)
);
CREATE TABLE IF NOT EXISTS "evtsrc_bookmarks" (
    name varchar(200) PRIMARY KEY,
    position bigint NOT NULL
);
