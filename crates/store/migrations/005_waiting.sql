-- Belfry store, schema version 5. Applied in one transaction.
--
-- Room messages that wait for a key get a table of their own: one row per
-- message, in arrival order. They were one named value, rewritten whole
-- each time a message started or stopped waiting.
CREATE TABLE waiting (
    seq     INTEGER PRIMARY KEY,
    id      BLOB NOT NULL UNIQUE,
    message BLOB NOT NULL
);
