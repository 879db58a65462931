-- Belfry store, schema version 8. Applied in one transaction.
--
-- Inbound Megolm sessions are keyed by the device that created them as
-- well as by session id. Keyed by id alone, a member who re-signed someone
-- else's session key under their own claim and got it delivered first held
-- that id, and the genuine session was then refused as "already held": its
-- messages could not be read. Rows kept from before have an empty sender;
-- the engine checks the sender inside the pickle before using one.
CREATE TABLE inbound_sessions_v2 (
    session       BLOB NOT NULL,
    sender        TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    room          BLOB NOT NULL,
    pickle        BLOB NOT NULL,
    PRIMARY KEY (session, sender, sender_device)
);
INSERT INTO inbound_sessions_v2 (session, sender, sender_device, room, pickle)
    SELECT session, '', '', room, pickle FROM inbound_sessions;
DROP TABLE inbound_sessions;
ALTER TABLE inbound_sessions_v2 RENAME TO inbound_sessions;
