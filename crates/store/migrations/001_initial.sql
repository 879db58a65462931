-- Belfry store, schema version 1. Applied in one transaction.
CREATE TABLE account (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    pickle  BLOB NOT NULL
);
CREATE TABLE olm_sessions (
    peer_user   TEXT NOT NULL,
    peer_device TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    pickle      BLOB NOT NULL,
    PRIMARY KEY (peer_user, peer_device, session_id)
);
CREATE TABLE inbound_sessions (
    session BLOB PRIMARY KEY,
    room    BLOB NOT NULL,
    pickle  BLOB NOT NULL
);
CREATE TABLE outbound_sessions (
    room    BLOB PRIMARY KEY,
    pickle  BLOB NOT NULL
);
CREATE TABLE seen_indices (
    session BLOB NOT NULL,
    idx     INTEGER NOT NULL,
    PRIMARY KEY (session, idx)
) WITHOUT ROWID;
CREATE TABLE messages (
    id         BLOB PRIMARY KEY,
    room       BLOB NOT NULL,
    sender     TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    expires_at INTEGER
);
CREATE INDEX messages_by_room ON messages (room, sent_at);
CREATE INDEX messages_by_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;
CREATE VIRTUAL TABLE messages_fts USING fts5 (body, content = 'messages', content_rowid = 'rowid');
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
CREATE TRIGGER messages_au AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TABLE outbox (
    id       BLOB PRIMARY KEY,
    payload  BLOB NOT NULL,
    queued   INTEGER NOT NULL
);
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
