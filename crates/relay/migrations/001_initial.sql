-- belfry-relay storage, schema version 1. Applied in one transaction.
-- The relay keeps ciphertext and routing data only.

-- Invitations IT registered (org-signed enrollment certificates).
CREATE TABLE invitations (
    id              BLOB PRIMARY KEY,   -- InvitationId
    user            TEXT NOT NULL,
    enrollment_key  BLOB NOT NULL,
    expires_at      INTEGER NOT NULL,   -- ms since the epoch
    cert            BLOB NOT NULL,      -- the Signed<EnrollmentCert> as IT signed it
    registered_at   INTEGER NOT NULL,
    redeemed_device INTEGER REFERENCES devices (id),
    redeemed_at     INTEGER
) WITHOUT ROWID;

-- Enrolled devices; `next_seq` is the next inbox sequence number.
CREATE TABLE devices (
    id          INTEGER PRIMARY KEY,
    user        TEXT NOT NULL,
    device      TEXT NOT NULL,
    ed25519     BLOB NOT NULL,
    chain       BLOB NOT NULL,          -- the DeviceChain as enrolled
    enrolled_at INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0,
    next_seq    INTEGER NOT NULL DEFAULT 1,
    depth       INTEGER NOT NULL DEFAULT 0,
    blob_bytes  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user, device)
);

-- Signed one-time keys (handed out once) and fallback keys.
CREATE TABLE one_time_keys (
    device INTEGER NOT NULL REFERENCES devices (id),
    key    BLOB NOT NULL,
    signed BLOB NOT NULL,
    PRIMARY KEY (device, key)
) WITHOUT ROWID;
CREATE TABLE fallback_keys (
    device INTEGER PRIMARY KEY REFERENCES devices (id),
    signed BLOB NOT NULL
);

-- An inbox item stored once however many devices it goes to; `refs`
-- counts the inbox entries still pointing at it.
CREATE TABLE payloads (
    id     INTEGER PRIMARY KEY,
    item   BLOB NOT NULL,
    refs   INTEGER NOT NULL,
    stored INTEGER NOT NULL
);
CREATE TABLE inbox (
    device  INTEGER NOT NULL REFERENCES devices (id),
    seq     INTEGER NOT NULL,
    payload INTEGER NOT NULL REFERENCES payloads (id),
    PRIMARY KEY (device, seq)
) WITHOUT ROWID;
CREATE INDEX payloads_by_age ON payloads (stored);

-- Publish ids already stored, so a resend gets the original ack.
CREATE TABLE published (
    device INTEGER NOT NULL,
    id     BLOB NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (device, id)
) WITHOUT ROWID;
CREATE INDEX published_by_age ON published (at);

-- Revocations and wipe orders, served with the directory. `user` is NULL
-- for statements about an enrollment key.
CREATE TABLE statements (
    id     INTEGER PRIMARY KEY,
    user   TEXT,
    hash   BLOB NOT NULL UNIQUE,
    item   BLOB NOT NULL
);
CREATE INDEX statements_by_user ON statements (user);

-- Attachment blobs (ciphertext, in files under blobs/).
CREATE TABLE blobs (
    id       BLOB PRIMARY KEY,
    owner    INTEGER NOT NULL REFERENCES devices (id),
    len      INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    created  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blobs_by_age ON blobs (created);
