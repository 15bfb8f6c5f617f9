-- The auth service's schema. Later migrations add to it; never edit an applied one.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    -- Stored as typed (trimmed); compared case-insensitively through the index below.
    email         TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          TEXT NOT NULL CHECK (role IN ('customer', 'organizer', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Opaque refresh tokens, stored as SHA-256 of the token. Each login starts a
-- family; each refresh uses one token and adds its successor to the family.
-- Presenting a used token again revokes the family (it was stolen or replayed).
CREATE TABLE refresh_tokens (
    id          UUID PRIMARY KEY,
    family_id   UUID NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Messages written in the same transaction as the change they announce and
-- published to Kafka by a background task, so a crash between commit and
-- produce loses nothing. Rows are deleted once the broker acknowledged them.
CREATE TABLE outbox (
    id           UUID PRIMARY KEY,
    topic        TEXT NOT NULL,
    message_key  TEXT NOT NULL,
    message_type TEXT NOT NULL,
    payload      JSONB NOT NULL,
    request_id   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_created_idx ON outbox (created_at);

-- Failed-login counters per account (`account:<lower(email)>`) and per client
-- address (`address:<ip>`). In the database, not in memory, so every auth
-- instance sees the same counts.
CREATE TABLE login_throttle (
    key               TEXT PRIMARY KEY,
    failures          INTEGER NOT NULL,
    window_started_at TIMESTAMPTZ NOT NULL,
    locked_until      TIMESTAMPTZ
);
