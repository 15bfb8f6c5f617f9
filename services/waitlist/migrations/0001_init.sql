-- The waitlist service's schema.

-- One row per join. `seq` is the join order (FIFO among matching entries).
CREATE TABLE entries (
    id                 UUID PRIMARY KEY,
    seq                BIGSERIAL NOT NULL,
    event_id           UUID NOT NULL,
    user_id            UUID NOT NULL,
    quantity           INT NOT NULL CHECK (quantity > 0),
    section_id         UUID,
    -- Highest acceptable price per ticket, minor units.
    max_price          BIGINT CHECK (max_price IS NULL OR max_price >= 0),
    status             TEXT NOT NULL DEFAULT 'waiting'
                       CONSTRAINT entries_status_check
                       CHECK (status IN ('waiting', 'offered', 'accepted', 'expired', 'left')),
    -- An OfferHold was sent for this entry and its outcome is not known yet.
    pending_request_id UUID,
    -- What that OfferHold offers ({section_id, seat_ids, quantity, price}), so a
    -- refusal can pass the seats on to the next entry.
    pending_offer      JSONB,
    hold_id            UUID,
    offer_seats        JSONB,
    offer_section_id   UUID,
    offer_quantity     INT,
    offer_total        BIGINT,
    offer_currency     TEXT,
    offer_expires_at   TIMESTAMPTZ,
    booking_id         UUID,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT entries_seq_key UNIQUE (seq)
);

-- One live entry per user and event.
CREATE UNIQUE INDEX entries_one_live_per_user ON entries (event_id, user_id)
    WHERE status IN ('waiting', 'offered');
CREATE INDEX entries_waiting_in_order ON entries (event_id, seq) WHERE status = 'waiting';
CREATE UNIQUE INDEX entries_hold_key ON entries (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX entries_by_user ON entries (user_id, event_id, seq DESC);

-- Whether booking was last told this event has people waiting.
CREATE TABLE event_waitlists (
    event_id   UUID PRIMARY KEY,
    active     BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Consumed message ids, written with their effects: redelivery has one effect.
CREATE TABLE processed_messages (
    message_id   UUID PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Messages to produce, written in the same transaction as the change that
-- caused them and relayed to Kafka in order.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    topic        TEXT NOT NULL,
    message_key  TEXT NOT NULL,
    message_type TEXT NOT NULL,
    envelope     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
