-- Proof of liabilities (docs/proof-of-liabilities.md): snapshots of every
-- customer account's balances at a batch boundary, each published as the
-- root of a Merkle sum tree, with the leaves and inner nodes that every
-- trader's inclusion proof is read from. Package liabilities writes these
-- tables; nothing else does.

CREATE TABLE liability_snapshots (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The batch after which the balances were copied, and the journal's
    -- position then: the legs of entries up to last_entry_id are exactly
    -- the balances in the tree (check-ledger recomputes them).
    taken_at      TIMESTAMPTZ NOT NULL,
    last_entry_id BIGINT      NOT NULL CHECK (last_entry_id >= 0),
    account_count INTEGER     NOT NULL CHECK (account_count >= 0),
    root_hash     BYTEA       NOT NULL CHECK (length(root_hash) = 32),
    -- Every leaf's nonce is HMAC-SHA256(nonce_key, user id): secret, never
    -- answered to anyone but as the owner's own nonce.
    nonce_key     BYTEA       NOT NULL CHECK (length(nonce_key) = 32),
    requested_by  BIGINT      REFERENCES users (id), -- NULL: the schedule
    published_at  TIMESTAMPTZ NOT NULL,
    -- Leaves and nodes are pruned after PROOF_RETENTION; the root stays.
    pruned_at     TIMESTAMPTZ
);
CREATE INDEX liability_snapshots_taken_idx ON liability_snapshots (taken_at);

-- One row per asset listed at the snapshot, in the tree's column order
-- (ordinal, from 1): the total liabilities, which are the tree's top sums.
CREATE TABLE liability_totals (
    snapshot_id BIGINT        NOT NULL REFERENCES liability_snapshots (id),
    ordinal     SMALLINT      NOT NULL CHECK (ordinal >= 1),
    asset       TEXT          NOT NULL REFERENCES assets (symbol),
    precision   SMALLINT      NOT NULL CHECK (precision BETWEEN 0 AND 8),
    total       NUMERIC(48,8) NOT NULL CHECK (total >= 0),
    PRIMARY KEY (snapshot_id, ordinal),
    UNIQUE (snapshot_id, asset)
);

-- One row per account in the tree, by leaf index (the place of its hash).
-- amounts are in each asset's smallest unit, in column order. There are
-- no foreign keys: a snapshot writes a million rows in one COPY, and a
-- check per row would double its time; check-ledger verifies the rows.
CREATE TABLE liability_leaves (
    snapshot_id BIGINT   NOT NULL,
    leaf_index  INTEGER  NOT NULL CHECK (leaf_index >= 0),
    account_id  BIGINT   NOT NULL,
    user_id     BIGINT   NOT NULL,
    amounts     BIGINT[] NOT NULL,
    PRIMARY KEY (snapshot_id, leaf_index)
);
CREATE UNIQUE INDEX liability_leaves_user_idx ON liability_leaves (snapshot_id, user_id);

-- The inner nodes (level 1 up to the top) that cover at least one
-- account; the rest are padding, known to every verifier. sums is the
-- format's encoding: 16 big-endian bytes per asset, in column order.
CREATE TABLE liability_nodes (
    snapshot_id BIGINT   NOT NULL,
    level       SMALLINT NOT NULL CHECK (level >= 1),
    node_index  INTEGER  NOT NULL CHECK (node_index >= 0),
    hash        BYTEA    NOT NULL CHECK (length(hash) = 32),
    sums        BYTEA    NOT NULL,
    PRIMARY KEY (snapshot_id, level, node_index)
);

-- A published root is never edited or withdrawn; only the pruning time
-- may be set, once.
CREATE FUNCTION liability_snapshots_published() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL
       AND (NEW.id, NEW.taken_at, NEW.last_entry_id, NEW.account_count, NEW.root_hash, NEW.nonce_key, NEW.requested_by, NEW.published_at)
           IS NOT DISTINCT FROM (OLD.id, OLD.taken_at, OLD.last_entry_id, OLD.account_count, OLD.root_hash, OLD.nonce_key, OLD.requested_by, OLD.published_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'published snapshots are never changed: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER liability_snapshots_published BEFORE UPDATE OR DELETE ON liability_snapshots
    FOR EACH ROW EXECUTE FUNCTION liability_snapshots_published();
CREATE TRIGGER liability_totals_append_only BEFORE UPDATE OR DELETE ON liability_totals
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();
