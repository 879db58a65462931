-- Belfry store: alerts. Applied in one transaction.
--
-- Every alert the engine shows (a new device, a revoked device, a state
-- conflict, a refused or undecryptable message...) is kept until the user
-- dismisses it, so a front end that starts later still lists it. Only the
-- newest 500 are kept. `alert` is the engine's encoding; `at` is this
-- device's clock (ms).
CREATE TABLE alerts (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    at    INTEGER NOT NULL,
    alert BLOB NOT NULL
);
