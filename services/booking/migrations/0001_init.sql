-- The booking service's schema (see docs/db-booking.md).
--
-- The booking processor is the only writer of inventory, holds and bookings:
-- it decides in memory and writes each batch of decisions here in one
-- transaction together with the consumed offsets. The constraints below carry
-- the invariants a second time, as the last line of defence.

CREATE TABLE service_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per event that has inventory (created from EventPublished).
CREATE TABLE events (
    event_id             UUID PRIMARY KEY,
    -- The booking.create partition that owns the event: state is loaded per partition.
    kafka_partition      INT NOT NULL,
    organizer_id         UUID NOT NULL,
    title                TEXT NOT NULL,
    starts_at            TIMESTAMPTZ NOT NULL,
    sales_start          TIMESTAMPTZ,
    sales_end            TIMESTAMPTZ,
    currency             TEXT NOT NULL,
    max_tickets_per_user INT CHECK (max_tickets_per_user IS NULL OR max_tickets_per_user > 0),
    status               TEXT NOT NULL DEFAULT 'on_sale' CHECK (status IN ('on_sale', 'cancelled')),
    waitlist_active      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_partition_idx ON events (kafka_partition);

CREATE TABLE sections (
    event_id   UUID NOT NULL REFERENCES events (event_id),
    section_id UUID NOT NULL,
    position   INT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('reserved', 'general')),
    price      BIGINT NOT NULL CHECK (price >= 0),
    capacity   INT NOT NULL CHECK (capacity >= 0),
    -- General admission only: places on public sale, and places parked for the waitlist.
    available  INT NOT NULL DEFAULT 0,
    parked     INT NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, section_id),
    CONSTRAINT sections_available_non_negative CHECK (available >= 0),
    CONSTRAINT sections_parked_non_negative CHECK (parked >= 0),
    CONSTRAINT sections_within_capacity CHECK (available + parked <= capacity)
);

CREATE TABLE seats (
    event_id   UUID NOT NULL,
    seat_id    TEXT NOT NULL,
    section_id UUID NOT NULL,
    row_label  TEXT NOT NULL,
    number     INT NOT NULL,
    x          REAL NOT NULL,
    y          REAL NOT NULL,
    -- A mirror of the processor's state for reads; seat_claims carries the invariant.
    status     TEXT NOT NULL DEFAULT 'available'
        CHECK (status IN ('available', 'held', 'booked', 'released_to_waitlist')),
    PRIMARY KEY (event_id, seat_id),
    FOREIGN KEY (event_id, section_id) REFERENCES sections (event_id, section_id)
);

CREATE TABLE holds (
    hold_id           UUID PRIMARY KEY,
    event_id          UUID NOT NULL REFERENCES events (event_id),
    user_id           UUID NOT NULL,
    -- Set for a general-admission hold; reserved holds list seat_ids.
    section_id        UUID,
    seat_ids          TEXT[] NOT NULL DEFAULT '{}',
    quantity          INT NOT NULL CHECK (quantity > 0),
    total_price       BIGINT NOT NULL CHECK (total_price >= 0),
    currency          TEXT NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'released', 'expired', 'confirmed', 'cancelled')),
    waitlist_entry_id UUID,
    created_at        TIMESTAMPTZ NOT NULL,
    ended_at          TIMESTAMPTZ
);
CREATE INDEX holds_event_active_idx ON holds (event_id) WHERE status = 'active';
CREATE INDEX holds_user_idx ON holds (user_id);

CREATE TABLE bookings (
    booking_id        UUID PRIMARY KEY,
    reference         TEXT NOT NULL,
    hold_id           UUID NOT NULL UNIQUE REFERENCES holds (hold_id),
    event_id          UUID NOT NULL REFERENCES events (event_id),
    user_id           UUID NOT NULL,
    section_id        UUID,
    seat_ids          TEXT[] NOT NULL DEFAULT '{}',
    quantity          INT NOT NULL CHECK (quantity > 0),
    total_price       BIGINT NOT NULL CHECK (total_price >= 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled', 'refunded')),
    payment_id        TEXT NOT NULL,
    refund_amount     BIGINT CHECK (refund_amount IS NULL OR refund_amount >= 0),
    cancelled_by      UUID,
    waitlist_entry_id UUID,
    created_at        TIMESTAMPTZ NOT NULL,
    cancelled_at      TIMESTAMPTZ,
    CONSTRAINT bookings_reference_key UNIQUE (reference)
);
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at DESC);
CREATE INDEX bookings_event_idx ON bookings (event_id) WHERE status = 'confirmed';

-- Which hold or booking has a reserved seat. Invariant 1 as a constraint: a
-- seat is in at most one live hold or confirmed booking.
CREATE TABLE seat_claims (
    event_id   UUID NOT NULL,
    seat_id    TEXT NOT NULL,
    hold_id    UUID NOT NULL REFERENCES holds (hold_id),
    booking_id UUID,
    live       BOOLEAN NOT NULL,
    FOREIGN KEY (event_id, seat_id) REFERENCES seats (event_id, seat_id)
);
CREATE UNIQUE INDEX seat_claims_one_live_per_seat ON seat_claims (event_id, seat_id) WHERE live;
CREATE INDEX seat_claims_hold_idx ON seat_claims (hold_id);
CREATE INDEX seat_claims_booking_idx ON seat_claims (booking_id) WHERE booking_id IS NOT NULL;

-- Payments authorized through the PaymentProvider, and what became of them.
CREATE TABLE payments (
    payment_id  TEXT PRIMARY KEY,
    request_id  UUID NOT NULL,
    hold_id     UUID NOT NULL,
    user_id     UUID NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount >= 0),
    currency    TEXT NOT NULL,
    -- authorized -> captured (booking) | refund_due -> voided/refunded
    status      TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'refund_due', 'voided', 'refunded')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payments_refund_due_idx ON payments (updated_at) WHERE status = 'refund_due';

-- Consumed position per topic partition, written in the same transaction as
-- the decisions; `generation` fences an instance that lost the partition.
CREATE TABLE partition_offsets (
    topic       TEXT NOT NULL,
    partition   INT NOT NULL,
    next_offset BIGINT NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    generation  BIGINT NOT NULL DEFAULT 0,
    owner       TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- The outcome of every command that carried a request id, for 202 polling.
CREATE TABLE command_results (
    request_id UUID PRIMARY KEY,
    event_id   UUID NOT NULL,
    -- Who sent the command: only they (or an admin) may poll it.
    user_id    UUID,
    outcome    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Outcomes committed but not yet acknowledged by the broker (transactional
-- outbox): published after commit, deleted once acknowledged, re-published
-- by the next owner of the partition after a crash.
CREATE TABLE outbox (
    seq             BIGSERIAL PRIMARY KEY,
    kafka_partition INT NOT NULL,
    message_key     TEXT NOT NULL,
    message_type    TEXT NOT NULL,
    payload         JSONB NOT NULL
);
CREATE INDEX outbox_partition_idx ON outbox (kafka_partition, seq);

-- Idempotency-Key per caller: the same key and body get the stored answer.
CREATE TABLE idempotency_keys (
    user_id     UUID NOT NULL,
    key         TEXT NOT NULL,
    method_path TEXT NOT NULL,
    request     JSONB NOT NULL,
    request_id  UUID,
    status_code INT,
    response    JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
