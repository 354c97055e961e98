-- The event store's tables before event ids, event versions and metadata: what
-- `python -m evtsrc.backends.sql_schema sqlite` printed at commit 8ccc003 (the release
-- before issue 14), which every SQL backend on sqlite created. Test data: do not edit.
CREATE TABLE evtsrc_bookmarks (
	name VARCHAR(200) NOT NULL, 
	position BIGINT NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE evtsrc_events (
	position INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	stream VARCHAR(200) NOT NULL, 
	aggregate_id VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	type VARCHAR(200) NOT NULL, 
	data JSON NOT NULL, 
	timestamp DATETIME NOT NULL, 
	CONSTRAINT evtsrc_events_version_uq UNIQUE (stream, aggregate_id, version)
);

CREATE INDEX evtsrc_events_stream_ix ON evtsrc_events (stream, position);

CREATE TABLE evtsrc_snapshots (
	stream VARCHAR(200) NOT NULL, 
	aggregate_id VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	state JSON NOT NULL, 
	PRIMARY KEY (stream, aggregate_id)
);
