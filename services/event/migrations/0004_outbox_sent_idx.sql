-- The relay's purge of sent rows older than a day reads only those rows.
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
