-- The account page: withdrawals their owner cancels, sessions a trader can
-- see and end one by one, and a login history.

-- A pending withdrawal can be taken back by its owner; the hold returns
-- as on a rejection (a 'withdrawal_cancel' journal entry).
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_status_check;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_status_check
    CHECK (status IN ('pending', 'completed', 'rejected', 'cancelled'));

-- A session gets a public id (its token hash names it to no one but the
-- server), where and with what it was opened, and when it was last used
-- (written at most once a minute, not on every request).
ALTER TABLE sessions ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE;
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- Each login attempt that was checked against a known account: when,
-- from where, with what, and how it ended. Never a password or a code.
-- Attempts the throttle refused before any check are not kept (a
-- stranger could otherwise write rows at will); the auth package keeps
-- each user's newest 100.
CREATE TABLE login_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip         TEXT        NOT NULL,
    user_agent TEXT        NOT NULL,
    outcome    TEXT        NOT NULL CHECK (outcome IN ('success', 'wrong_password', 'code_required', 'wrong_code', 'frozen')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_events_user_idx ON login_events (user_id, id DESC);
