package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

// Posted is one journal entry as the sequencer numbered it.
type Posted struct {
	ID int64
	Entry
}

// Changes are what one sequencer batch did to the books: journal entries
// and the balances they changed. The sequencer keeps every balance but
// the external account's in memory (package risk) and hands over their
// new values; the external account's legs become deltas added in SQL,
// in NUMERIC, which has room for what an Amount has not.
type Changes struct {
	Entries  []Posted
	Balances []Row
	external map[string]money.Amount // asset → net change of available
}

// Row is one balance's new value.
type Row struct {
	risk.Key
	risk.Balance
}

// Post records an entry and the external account's share of its legs.
func (c *Changes) Post(id int64, e Entry) {
	c.Entries = append(c.Entries, Posted{id, e})
	for _, l := range e.Legs {
		if l.Account != ExternalAccount {
			continue
		}
		if l.Bucket != Available {
			// The external account has no reservations: such a leg is a bug,
			// which the held column's CHECK would refuse anyway.
			panic(fmt.Sprintf("ledger: external account leg in %s bucket", l.Bucket))
		}
		if c.external == nil {
			c.external = map[string]money.Amount{}
		}
		c.external[l.Asset] += l.Amount
	}
}

// Reset empties the changes for the next batch, keeping their storage.
func (c *Changes) Reset() {
	c.Entries, c.Balances = c.Entries[:0], c.Balances[:0]
	clear(c.external)
}

// Accounts are the accounts whose balances the changes touch, for the
// private balance streams.
func (c *Changes) Accounts() []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, r := range c.Balances {
		if !seen[r.Account] {
			seen[r.Account] = true
			out = append(out, r.Account)
		}
	}
	return out
}

// Queue adds the statements that write the changes to q: entries, legs,
// balances as the sequencer holds them, and the external account's deltas.
func (c *Changes) Queue(q *pgx.Batch, now time.Time) {
	if n := len(c.Entries); n > 0 {
		ids, kinds, memos := make([]int64, n), make([]string, n), make([]string, n)
		creators := make([]*int64, n)
		var legEntries, legAccounts []int64
		var legAssets, legBuckets, legAmounts []string
		for i, e := range c.Entries {
			ids[i], kinds[i], memos[i], creators[i] = e.ID, e.Kind, e.Memo, e.CreatedBy
			for _, l := range e.Legs {
				legEntries, legAccounts = append(legEntries, e.ID), append(legAccounts, l.Account)
				legAssets, legBuckets, legAmounts = append(legAssets, l.Asset), append(legBuckets, string(l.Bucket)), append(legAmounts, l.Amount.String())
			}
		}
		q.Queue(`INSERT INTO journal_entries (id, kind, memo, created_by, created_at)
			SELECT id, kind, memo, created_by, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS e(id, kind, memo, created_by)`,
			ids, kinds, memos, creators, now)
		q.Queue(`INSERT INTO journal_legs (entry_id, account_id, asset, bucket, amount)
			SELECT entry_id, account_id, asset, bucket, amount::numeric
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[]) AS l(entry_id, account_id, asset, bucket, amount)`,
			legEntries, legAccounts, legAssets, legBuckets, legAmounts)
	}
	if n := len(c.Balances); n > 0 {
		accounts, assets, avail, held := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
		for i, r := range c.Balances {
			accounts[i], assets[i], avail[i], held[i] = r.Account, r.Asset, r.Available.String(), r.Held.String()
		}
		q.Queue(`INSERT INTO balances (account_id, asset, available, held, updated_at)
			SELECT account_id, asset, available::numeric, held::numeric, $5
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS b(account_id, asset, available, held)
			ON CONFLICT (account_id, asset) DO UPDATE SET available = EXCLUDED.available, held = EXCLUDED.held, updated_at = EXCLUDED.updated_at`,
			accounts, assets, avail, held, now)
	}
	if len(c.external) > 0 {
		var assets, deltas []string
		for asset, d := range c.external {
			if d != 0 {
				assets, deltas = append(assets, asset), append(deltas, d.String())
			}
		}
		q.Queue(`INSERT INTO balances (account_id, asset, available, updated_at)
			SELECT $1, asset, delta::numeric, $4 FROM unnest($2::text[], $3::text[]) AS d(asset, delta)
			ON CONFLICT (account_id, asset) DO UPDATE SET available = balances.available + EXCLUDED.available, updated_at = EXCLUDED.updated_at`,
			ExternalAccount, assets, deltas, now)
	}
}

// LoadBalances hands f every balance but the external account's: what the
// sequencer keeps in memory.
func LoadBalances(ctx context.Context, conn *pgx.Conn, f func(risk.Key, risk.Balance)) error {
	rows, err := conn.Query(ctx, "SELECT account_id, asset, available::text, held::text FROM balances WHERE account_id <> $1", ExternalAccount)
	if err != nil {
		return fmt.Errorf("load balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k risk.Key
		var avail, held string
		if err := rows.Scan(&k.Account, &k.Asset, &avail, &held); err != nil {
			return fmt.Errorf("load balances: %w", err)
		}
		var b risk.Balance
		var err1, err2 error
		b.Available, err1 = money.Parse(avail)
		b.Held, err2 = money.Parse(held)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("load balances: account %d %s: %q/%q is out of range", k.Account, k.Asset, avail, held)
		}
		f(k, b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load balances: %w", err)
	}
	return nil
}

// LastEntryID is the highest journal entry id committed: the journal's
// position. Only the sequencer leader writes entries, numbering them in
// ascending order from blocks it reserves, so every entry committed later
// has a higher id and "the legs of entries up to this id" is the journal
// at this moment (proof-of-liabilities snapshots record it).
func LastEntryID(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var id int64
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM journal_entries").Scan(&id); err != nil {
		return 0, fmt.Errorf("last journal entry: %w", err)
	}
	return id, nil
}

// ReserveEntryIDs takes n journal entry ids from the identity sequence.
func ReserveEntryIDs(ctx context.Context, conn *pgx.Conn, n int) ([]int64, error) {
	return database.ReserveIDs(ctx, conn, "journal_entries", n)
}
