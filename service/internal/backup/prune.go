package backup

import (
	"context"
	"strings"
	"time"
)

// Prune deletes the backups of database taken before now-olderThan, for
// stores without lifecycle rules. Age comes from the key's timestamp. The
// newest complete backup is always kept, however old: if backups have been
// failing for a month, the last good one must survive. A manifest is
// deleted before its dump, so an interrupted prune never leaves a manifest
// pointing at nothing. It returns the keys deleted.
func Prune(ctx context.Context, env Env, database string, olderThan time.Duration, now time.Time) ([]string, error) {
	keys, err := env.Store.list(ctx, databaseDir(env.Store.prefix, database))
	if err != nil {
		return nil, err
	}
	newest := ""
	for _, k := range keys {
		if strings.HasSuffix(k, manifestSuffix) {
			newest = k // keys are sorted, timestamps sort in time order
		}
	}
	cutoff := now.Add(-olderThan)
	var manifests, dumps []string
	for _, k := range keys {
		taken, ok := keyAge(k)
		if !ok || !taken.Before(cutoff) || sameBackup(k, newest) {
			continue
		}
		if strings.HasSuffix(k, manifestSuffix) {
			manifests = append(manifests, k)
		} else {
			dumps = append(dumps, k)
		}
	}
	var deleted []string
	for _, k := range append(manifests, dumps...) {
		if err := env.Store.delete(ctx, k); err != nil {
			return deleted, err
		}
		deleted = append(deleted, k)
	}
	return deleted, nil
}

// sameBackup says whether two keys are the dump and manifest of one backup.
func sameBackup(a, b string) bool {
	base := func(k string) string {
		k, _ = strings.CutSuffix(k, manifestSuffix)
		k, _ = strings.CutSuffix(k, dumpSuffix)
		return k
	}
	return base(a) == base(b)
}
