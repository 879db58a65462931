-- belfry-relay storage, schema version 4.
-- Inbox entries waiting per (recipient, sender), in count and bytes, so one
-- sender cannot fill another device's inbox: each sender has a share well
-- below the inbox depth. `payloads.sender` is the publishing device (NULL
-- for statements, which count against no sender).
ALTER TABLE payloads ADD COLUMN sender INTEGER;
CREATE TABLE pending (
    device  INTEGER NOT NULL,
    sender  INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (device, sender)
) WITHOUT ROWID;
