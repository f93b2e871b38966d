CREATE TABLE sites (
	id         text PRIMARY KEY,
	feature    jsonb NOT NULL,
	updated_at timestamptz NOT NULL
);

-- Boundary events. device is the pseudonym; no raw device id is stored.
CREATE TABLE events (
	id             text PRIMARY KEY,
	visit          text NOT NULL,
	site           text NOT NULL,
	zone           text NOT NULL,
	kind           text NOT NULL,
	device         text NOT NULL,
	agency         text NOT NULL,
	t              timestamptz NOT NULL,
	duration_s     double precision NOT NULL,
	min_distance_m double precision NOT NULL,
	stationary_s   double precision NOT NULL,
	in_hours       boolean NOT NULL,
	breach         boolean NOT NULL,
	lat            double precision NOT NULL,
	lon            double precision NOT NULL
);
CREATE INDEX events_t ON events (t, id);
CREATE INDEX events_site_t ON events (site, t);
CREATE INDEX events_visit ON events (visit);

CREATE TABLE annotations (
	id         bigserial PRIMARY KEY,
	event_id   text NOT NULL REFERENCES events (id),
	role       text NOT NULL,
	author     text NOT NULL,
	label      text NOT NULL,
	text       text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX annotations_event ON annotations (event_id, id);

CREATE TABLE cells (
	site         text NOT NULL,
	zone         text NOT NULL,
	week         text NOT NULL,
	hour_of_week smallint NOT NULL,
	cell_lat     integer NOT NULL,
	cell_lon     integer NOT NULL,
	fixes        bigint NOT NULL,
	stationary_s double precision NOT NULL,
	PRIMARY KEY (site, week, zone, hour_of_week, cell_lat, cell_lon)
);

CREATE TABLE tokens (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL,
	role       text NOT NULL,
	agency     text NOT NULL DEFAULT '',
	hash       bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

CREATE TABLE device_state (
	pseudonym  text PRIMARY KEY,
	state      jsonb NOT NULL,
	updated_at timestamptz NOT NULL
);
