package backup

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// userSchemas filters pg_namespace (as n) down to what pg_dump dumps.
const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema')
	AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`

// rowCounts counts the rows of every table in every user schema, keyed by
// schema-qualified name, so a table added by a later migration is covered
// without anyone remembering to list it. The counts are exact: an estimate
// could not tell a lost row.
func rowCounts(ctx context.Context, q querier) (map[string]int64, error) {
	rows, err := q.Query(ctx, `
		SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND `+userSchemas+` ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgx.Identifier, error) {
		var schema, name string
		err := r.Scan(&schema, &name)
		return pgx.Identifier{schema, name}, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := q.QueryRow(ctx, "SELECT count(*) FROM "+t.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", t.Sanitize(), err)
		}
		counts[t[0]+"."+t[1]] = n
	}
	return counts, nil
}

// countDifferences lists, in table order, where two sets of counts disagree.
func countDifferences(recorded, restored map[string]int64) []string {
	names := make(map[string]bool, len(recorded))
	for t := range recorded {
		names[t] = true
	}
	for t := range restored {
		names[t] = true
	}
	sorted := make([]string, 0, len(names))
	for t := range names {
		sorted = append(sorted, t)
	}
	sort.Strings(sorted)
	var diffs []string
	for _, t := range sorted {
		want, inBackup := recorded[t]
		got, inRestore := restored[t]
		switch {
		case !inBackup:
			diffs = append(diffs, fmt.Sprintf("%s: restored with %d rows but not recorded at backup time", t, got))
		case !inRestore:
			diffs = append(diffs, fmt.Sprintf("%s: recorded at backup time with %d rows but missing after restore", t, want))
		case want != got:
			diffs = append(diffs, fmt.Sprintf("%s: %d rows recorded at backup time, %d after restore", t, want, got))
		}
	}
	return diffs
}
