-- Two-factor authentication (TOTP, RFC 6238). The shared secret is sealed
-- with AES-256-GCM under a key derived from SECRET_KEY, as API key secrets
-- are. It is stored when the user starts enrolling and is only demanded at
-- login once a current code has confirmed it (totp_enabled). totp_last_step
-- is the last 30 s time step a code was accepted for, so that a code seen
-- over a shoulder or in a log cannot be used a second time.
ALTER TABLE users
    ADD COLUMN totp_secret_sealed BYTEA,
    ADD COLUMN totp_enabled       BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN totp_last_step     BIGINT  NOT NULL DEFAULT 0,
    ADD CONSTRAINT users_totp_needs_secret CHECK (NOT totp_enabled OR totp_secret_sealed IS NOT NULL);
