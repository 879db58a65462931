-- Belfry store, schema version 9. Applied in one transaction.
--
-- The timeline keeps what a front end shows beside a message's text, as
-- data instead of inside the text:
--
-- 1. `reply_to`: the message this one answers (a reply's body was stored
--    as "↪ <id>: text"; it is now the text alone, still searchable).
--    Replies stored before keep their old body and no target.
-- 2. `edited`: its sender changed the text since it was first sent.
-- 3. `receipts`: who (per member) received or read one of this device's
--    own messages, and when; deleted with the message.
-- 4. `reactions`: one per member and message (a new one replaces theirs),
--    deleted with the message (they were named values that outlived it;
--    the engine moves those here when it opens the profile).
-- 5. `read_markers`: per room, the last message this user has read (the
--    timeline shows "new" below it). Unread counts come from the statuses
--    (a message of someone else is Received until read), through a partial
--    index that holds only unread messages.
ALTER TABLE messages ADD COLUMN reply_to BLOB;
ALTER TABLE messages ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_unread ON messages (room) WHERE status = 5;
CREATE TABLE receipts (
    message BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user    TEXT NOT NULL,
    read    INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (message, user)
) WITHOUT ROWID;
CREATE TABLE reactions (
    message BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user    TEXT NOT NULL,
    key     TEXT NOT NULL,
    PRIMARY KEY (message, user)
) WITHOUT ROWID;
CREATE TABLE read_markers (
    room    BLOB PRIMARY KEY,
    message BLOB NOT NULL
);
