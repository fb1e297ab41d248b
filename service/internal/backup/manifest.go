package backup

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Manifest describes one complete backup. It is a small JSON object stored
// next to the dump and written only after the dump's upload completed, so
// its presence is what makes a dump a backup: a run that fails at any point
// leaves no manifest, and restore and verify-backup ignore a dump without
// one.
//
// The checksum cannot be the dump's own object metadata: S3 takes metadata
// when a multipart upload starts, before the stream has been read, and
// changing it afterwards means copying the whole object. The dump's
// metadata carries what is known up front (versions, database).
type Manifest struct {
	Format        int              `json:"format"`
	Key           string           `json:"key"`
	Database      string           `json:"database"`
	StartedAt     time.Time        `json:"started_at"`
	FinishedAt    time.Time        `json:"finished_at"`
	SizeBytes     int64            `json:"size_bytes"`
	SHA256        string           `json:"sha256"`
	PgDumpVersion string           `json:"pg_dump_version"`
	PgDumpMajor   int              `json:"pg_dump_major"`
	ServerVersion string           `json:"server_version"`
	RowCounts     map[string]int64 `json:"row_counts"`
}

const (
	manifestFormat = 1
	dumpSuffix     = ".dump"
	manifestSuffix = ".manifest.json"
	// keyTime is the UTC timestamp in keys: sortable, so the newest backup
	// is the last key in S3's lexicographic listing.
	keyTime = "20060102T150405Z"
)

// dumpKey is <prefix>/<database>/<UTC timestamp>.dump.
func dumpKey(prefix, database string, at time.Time) string {
	return path.Join(prefix, database, at.UTC().Format(keyTime)+dumpSuffix)
}

// databaseDir is the key prefix under which a database's backups live.
func databaseDir(prefix, database string) string {
	return path.Join(prefix, database) + "/"
}

// ManifestKey is where the manifest of the dump at dumpKey lives.
func ManifestKey(dumpKey string) (string, error) {
	base, ok := strings.CutSuffix(dumpKey, dumpSuffix)
	if !ok {
		return "", fmt.Errorf("backup key %q does not end in %s", dumpKey, dumpSuffix)
	}
	return base + manifestSuffix, nil
}

// keyAge is the time a backup key was taken at, from its name.
func keyAge(key string) (time.Time, bool) {
	name := path.Base(key)
	stamp, _, ok := strings.Cut(name, ".")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(keyTime, stamp)
	return t, err == nil
}
