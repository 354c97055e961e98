-- The statement both PostgreSQL backends appended with at commit 8ccc003 (before event
-- ids, event versions and metadata): `append_sql('evtsrc_events', notify=False)`.
-- $1 stream, $2 aggregate id, $3 expected version, $4 types, $5 JSON texts, $6 timestamps.
WITH head AS (SELECT coalesce(max(version), 0) AS version FROM evtsrc_events WHERE stream = $1 AND aggregate_id = $2), inserted AS (INSERT INTO evtsrc_events (position, stream, aggregate_id, version, type, data, timestamp) SELECT (pg_current_xact_id()::text::bigint << 20) | (e.n - 1), $1, $2, $3 + e.n, e.type, e.data, e.ts FROM head, unnest($4::varchar[], $5::jsonb[], $6::timestamptz[]) WITH ORDINALITY AS e(type, data, ts, n) WHERE head.version = $3 RETURNING position) SELECT (SELECT min(position) FROM inserted)
