-- belfry-relay storage, schema version 2.
-- When an ack releases a payload's last inbox entry the payload is deleted,
-- and SQLite checks the inbox's foreign key to it: without this index that
-- check scans the whole inbox, once per delivered message.
CREATE INDEX inbox_by_payload ON inbox (payload);
