CREATE TABLE sites (
	id         TEXT PRIMARY KEY,
	feature    TEXT NOT NULL,
	updated_ms INTEGER NOT NULL
);

-- Boundary events. device is the pseudonym; no raw device id is stored.
CREATE TABLE events (
	id             TEXT PRIMARY KEY,
	visit          TEXT NOT NULL,
	site           TEXT NOT NULL,
	zone           TEXT NOT NULL,
	kind           TEXT NOT NULL,
	device         TEXT NOT NULL,
	agency         TEXT NOT NULL,
	t_ms           INTEGER NOT NULL,
	duration_s     REAL NOT NULL,
	min_distance_m REAL NOT NULL,
	stationary_s   REAL NOT NULL,
	in_hours       INTEGER NOT NULL,
	breach         INTEGER NOT NULL,
	lat            REAL NOT NULL,
	lon            REAL NOT NULL
);
CREATE INDEX events_t ON events (t_ms, id);
CREATE INDEX events_site_t ON events (site, t_ms);
CREATE INDEX events_visit ON events (visit);

CREATE TABLE annotations (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id   TEXT NOT NULL REFERENCES events (id),
	role       TEXT NOT NULL,
	author     TEXT NOT NULL,
	label      TEXT NOT NULL,
	text       TEXT NOT NULL,
	created_ms INTEGER NOT NULL
);
CREATE INDEX annotations_event ON annotations (event_id, id);

-- Weekly aggregates of in-zone fixes: site, zone, ISO week and hour of the
-- site's local week, ~10 m cell.
CREATE TABLE cells (
	site         TEXT NOT NULL,
	zone         TEXT NOT NULL,
	week         TEXT NOT NULL,
	hour_of_week INTEGER NOT NULL,
	cell_lat     INTEGER NOT NULL,
	cell_lon     INTEGER NOT NULL,
	fixes        INTEGER NOT NULL,
	stationary_s REAL NOT NULL,
	PRIMARY KEY (site, week, zone, hour_of_week, cell_lat, cell_lon)
);

CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	agency     TEXT NOT NULL DEFAULT '',
	hash       BLOB NOT NULL UNIQUE,
	created_ms INTEGER NOT NULL
);

-- Open visits of devices, keyed by pseudonym, so a restart resumes them.
CREATE TABLE device_state (
	pseudonym  TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	updated_ms INTEGER NOT NULL
);
