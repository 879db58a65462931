-- Belfry store, schema version 7. Applied in one transaction.
--
-- The outbox was ordered by `queued`, a wall-clock stamp that the engine
-- counted on from the current time at each open. A busy run stamps ahead
-- of the clock, so after a quick restart (a crash) new items sorted before
-- older ones already encrypted, and reached the relay out of Megolm order:
-- receivers then warned that messages were withheld. The store now numbers
-- items in the order they are queued: `seq` is an AUTOINCREMENT key, which
-- SQLite never hands out twice or lower, even after the outbox empties
-- (`sqlite_sequence` keeps the highest). Items already queued keep their
-- order. `queued` stays, as when the item was queued.
CREATE TABLE outbox_ordered (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       BLOB NOT NULL UNIQUE,
    payload  BLOB NOT NULL,
    queued   INTEGER NOT NULL
);
INSERT INTO outbox_ordered (id, payload, queued) SELECT id, payload, queued FROM outbox ORDER BY queued, id;
-- Drops `outbox_by_queue` with it: the head is read in `seq` (rowid) order.
DROP TABLE outbox;
ALTER TABLE outbox_ordered RENAME TO outbox;
