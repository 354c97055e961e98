-- The event store's tables before event ids, event versions and metadata: what
-- `python -m evtsrc.backends.sql_schema mariadb` printed at commit 8ccc003 (the release
-- before issue 14), which every SQL backend on mariadb created. Test data: do not edit.
CREATE TABLE evtsrc_bookmarks (
	name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	`position` BIGINT NOT NULL, 
	PRIMARY KEY (name)
)CHARSET=utf8mb4;

CREATE TABLE evtsrc_events (
	`position` BIGINT NOT NULL AUTO_INCREMENT, 
	stream VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	aggregate_id VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	version INTEGER NOT NULL, 
	type VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	data JSON NOT NULL, 
	timestamp DATETIME(6) NOT NULL, 
	PRIMARY KEY (`position`), 
	CONSTRAINT evtsrc_events_version_uq UNIQUE (stream, aggregate_id, version)
)CHARSET=utf8mb4;

CREATE INDEX evtsrc_events_stream_ix ON evtsrc_events (stream, `position`);

CREATE TABLE evtsrc_snapshots (
	stream VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	aggregate_id VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	version INTEGER NOT NULL, 
	`key` VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, 
	state JSON NOT NULL, 
	PRIMARY KEY (stream, aggregate_id)
)CHARSET=utf8mb4;
