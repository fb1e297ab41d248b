-- Security at the edges.
--
-- Login throttling counts an attempt before the password is checked, in
-- one row per (scope, key) and fixed window, so that parallel guesses are
-- counted one by one and no more are checked than the limit allows. The
-- scopes: an account from one IP, an account from a device that logged in
-- before, the account as a whole and an IP as a whole (the slower
-- ceilings, which known devices skip), and, per user, step-up codes and
-- the current password asked for again (a new password, two-factor off).
DROP TABLE login_failures;
CREATE TABLE login_attempts (
    scope        TEXT        NOT NULL CHECK (scope IN ('account_ip', 'device', 'account', 'ip', 'step_up', 'password')),
    key          TEXT        NOT NULL,
    attempts     INTEGER     NOT NULL CHECK (attempts >= 0),
    window_start TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_attempts_window_idx ON login_attempts (window_start);

-- A browser that logged in successfully gets a device cookie; only its
-- hash is kept. Guesses from elsewhere cannot lock that browser out.
CREATE TABLE login_devices (
    token_hash BYTEA       PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_devices_user_idx ON login_devices (user_id);
CREATE INDEX login_devices_expiry_idx ON login_devices (expires_at);

-- One-time recovery codes for two-factor authentication, shown once; only
-- a keyed hash (HMAC under a key derived from SECRET_KEY) is kept.
CREATE TABLE recovery_codes (
    user_id   BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA       NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- Mail for a mailer to send. Registration answers the same whether or not
-- the address is taken; the mail tells the address's owner which it was.
CREATE TABLE mail_outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_email   TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    body       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at    TIMESTAMPTZ
);
CREATE INDEX mail_outbox_unsent_idx ON mail_outbox (id) WHERE sent_at IS NULL;

-- What admins did, append-only like the journal.
CREATE TABLE admin_audit (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id       BIGINT      NOT NULL REFERENCES users (id),
    action         TEXT        NOT NULL,
    target_user_id BIGINT      REFERENCES users (id),
    subject        TEXT        NOT NULL DEFAULT '',
    detail         TEXT        NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_admin_idx ON admin_audit (admin_id, id DESC);
CREATE TRIGGER admin_audit_append_only BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();

-- Caps per asset: the largest single deposit, and the largest balance an
-- account may reach by deposits and adjustments. With them no user can
-- push a shared total (the external account, whose balance is minus what
-- everyone holds) to the edge of the range and so make others' deposits
-- fail. Existing assets get caps scaled from their daily withdrawal limit.
ALTER TABLE assets
    ADD COLUMN deposit_max NUMERIC(30,8),
    ADD COLUMN balance_max NUMERIC(30,8);
UPDATE assets SET
    deposit_max = LEAST(GREATEST(withdrawal_daily_limit * 100, 1), 100000000),
    balance_max = LEAST(GREATEST(withdrawal_daily_limit * 1000, 1), 1000000000);
-- An asset listed by hand without caps gets generic ones.
ALTER TABLE assets
    ALTER COLUMN deposit_max SET DEFAULT 1000000,
    ALTER COLUMN balance_max SET DEFAULT 10000000,
    ALTER COLUMN deposit_max SET NOT NULL,
    ALTER COLUMN balance_max SET NOT NULL,
    ADD CONSTRAINT assets_caps_positive CHECK (deposit_max > 0 AND balance_max >= deposit_max AND balance_max <= 10000000000);
