-- Belfry store, schema version 2. Applied in one transaction.
--
-- 1. `messages` gets an explicit `seq INTEGER PRIMARY KEY`. The full-text
--    index refers to messages by rowid, and an implicit rowid may be
--    renumbered by VACUUM, which would silently point search hits at the
--    wrong messages.
-- 2. The full-text index is rebuilt with 'secure-delete': deleting a message
--    removes its tokens from the index at once. By default FTS5 only appends
--    a delete marker and the old tokens stay in older index segments, out of
--    reach of PRAGMA secure_delete: a disappeared message would stay
--    readable in the index.
-- 3. The index is maintained by the store's write path instead of triggers
--    (with cipher_memory_security on, every trigger run costs locked,
--    wiped allocations: ingest was 7x slower). `columnsize=0`: results are
--    ordered by time, not by bm25 rank, so per-document sizes are not kept.
-- 4. Attachments: metadata, and ciphertext inline or in a file.

CREATE TABLE messages_v2 (
    seq        INTEGER PRIMARY KEY,
    id         BLOB NOT NULL UNIQUE,
    room       BLOB NOT NULL,
    sender     TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    expires_at INTEGER
);
INSERT INTO messages_v2 (seq, id, room, sender, sent_at, status, body, expires_at)
    SELECT rowid, id, room, sender, sent_at, status, body, expires_at FROM messages ORDER BY rowid;

DROP TRIGGER messages_ai;
DROP TRIGGER messages_ad;
DROP TRIGGER messages_au;
DROP TABLE messages_fts;
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;
CREATE INDEX messages_by_room ON messages (room, sent_at, id);
CREATE INDEX messages_by_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body,
    content = 'messages',
    content_rowid = 'seq',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

-- `file` is a random name in the store's attachment directory (it reveals
-- neither the attachment's name nor its blob id); `inline_data` holds small
-- ciphertexts; neither means "only on the relay".
CREATE TABLE attachments (
    id          BLOB PRIMARY KEY,
    message     BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    key         BLOB NOT NULL,
    sha256      BLOB NOT NULL,
    file        TEXT UNIQUE,
    inline_data BLOB,
    CHECK (file IS NULL OR inline_data IS NULL)
);
CREATE INDEX attachments_by_message ON attachments (message);
