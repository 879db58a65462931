-- belfry-relay storage, schema version 3.
-- Each device's enrollment key (the invitation's key that certified it), so
-- an org-signed revocation of that key revokes the device at the relay too,
-- and the keys revoked or burnt (a second device under one key), so no
-- later device enrolls under them.
ALTER TABLE devices ADD COLUMN enrollment_key BLOB;
UPDATE devices SET enrollment_key =
    (SELECT invitations.enrollment_key FROM invitations WHERE invitations.redeemed_device = devices.id);
CREATE INDEX devices_by_enrollment_key ON devices (enrollment_key);
CREATE TABLE revoked_enrollment_keys (
    key BLOB PRIMARY KEY,
    at  INTEGER NOT NULL
) WITHOUT ROWID;
