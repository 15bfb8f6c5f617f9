-- The notification service's schema.

-- Contact details, kept from `UserRegistered` (user.events).
CREATE TABLE users (
    user_id    UUID PRIMARY KEY,
    email      TEXT NOT NULL,
    name       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Event titles for mails, kept from `event.lifecycle`.
CREATE TABLE events (
    event_id   UUID PRIMARY KEY,
    title      TEXT NOT NULL,
    starts_at  TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every consumed message id, written in the same transaction as its effect,
-- so a redelivered message has no second effect.
CREATE TABLE processed_messages (
    message_id   UUID PRIMARY KEY,
    topic        TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per notification and recipient: the in-app notification and the
-- delivery record of its email in one.
CREATE TABLE notifications (
    id              UUID PRIMARY KEY,
    -- source message id + recipient: the same source never notifies a user twice.
    dedupe_key      TEXT NOT NULL,
    user_id         UUID NOT NULL,
    kind            TEXT NOT NULL,
    event_id        UUID,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    data            JSONB NOT NULL DEFAULT '{}'::jsonb,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CONSTRAINT notifications_status_check
                    CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts        INT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    INT NOT NULL CHECK (max_attempts > 0),
    last_error      TEXT,
    email           TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A sender owns the row until then (several instances share the table).
    claimed_until   TIMESTAMPTZ,
    read_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    dead_at         TIMESTAMPTZ,
    CONSTRAINT notifications_dedupe_key UNIQUE (dedupe_key)
);

CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('pending', 'failed');
CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_dead ON notifications (dead_at DESC) WHERE status = 'dead';
