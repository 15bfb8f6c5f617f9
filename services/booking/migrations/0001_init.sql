-- The booking service's schema. Later migrations add to it; never edit an applied one.
CREATE TABLE IF NOT EXISTS service_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
