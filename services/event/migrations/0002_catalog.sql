-- The catalogue on PostgreSQL: each venue and event is a JSONB document (the
-- same shape the MongoDB store keeps), plus the columns we filter, sort and
-- check versions on. See docs/db-event.md for why each index exists.

CREATE TABLE venues (
    id           UUID PRIMARY KEY,
    organizer_id UUID NOT NULL,
    version      BIGINT NOT NULL CHECK (version > 0),
    created_at   TIMESTAMPTZ NOT NULL,
    doc          JSONB NOT NULL
);
-- "My venues", newest first.
CREATE INDEX venues_organizer_created_idx ON venues (organizer_id, created_at DESC, id DESC);

CREATE TABLE events (
    id           UUID PRIMARY KEY,
    organizer_id UUID NOT NULL,
    venue_id     UUID NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published', 'cancelled', 'completed')),
    title        TEXT NOT NULL,
    category     TEXT NOT NULL,
    city_key     TEXT NOT NULL,
    starts_at    TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    version      BIGINT NOT NULL CHECK (version > 0),
    doc          JSONB NOT NULL,
    -- The fixed seat map, set on publish. Kept apart so list queries never
    -- read (or de-TOAST) it.
    layout       JSONB,
    search       TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', coalesce(doc->>'description', '')), 'B')
    ) STORED
);
CREATE INDEX events_search_idx ON events USING GIN (search);
CREATE INDEX events_status_starts_idx ON events (status, starts_at, id);
CREATE INDEX events_status_category_starts_idx ON events (status, category, starts_at, id);
CREATE INDEX events_status_city_starts_idx ON events (status, city_key, starts_at, id);
CREATE INDEX events_status_title_idx ON events (status, title, id);
CREATE INDEX events_status_created_idx ON events (status, created_at DESC, id);
CREATE INDEX events_organizer_created_idx ON events (organizer_id, created_at DESC, id);

-- Transactional outbox: written in the same transaction as the event.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    topic        TEXT NOT NULL,
    key          TEXT NOT NULL,
    message_type TEXT NOT NULL,
    -- The encoded envelope as produced, byte for byte (JSONB would reorder keys).
    payload      TEXT NOT NULL,
    request_id   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at      TIMESTAMPTZ
);
-- The relay's scan: only unsent rows, in write order.
CREATE INDEX outbox_unsent_idx ON outbox (seq) WHERE sent_at IS NULL;
