-- Belfry store, schema version 6. Applied in one transaction.
--
-- The outbox is read from its head, in queue order (`outbox_head`: the
-- oldest N items), after every group the engine encrypts or publishes.
-- Without an index on that order each read scanned and sorted the whole
-- outbox, decrypting every page of it: with thousands of messages queued
-- that was a third of a busy sender's CPU. With the index a read touches
-- only the rows it returns.
CREATE INDEX outbox_by_queue ON outbox (queued, id);
