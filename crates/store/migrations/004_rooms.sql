-- Belfry store, schema version 4. Applied in one transaction.
--
-- Rooms get a table of their own: one row per room, holding the engine's
-- record of it (validated state and the signed state log). They were one
-- named value for all rooms, rewritten whole on every state change of any
-- room.
CREATE TABLE rooms (
    id     BLOB PRIMARY KEY,
    record BLOB NOT NULL
);
