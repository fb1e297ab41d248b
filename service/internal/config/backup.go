package config

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Backup is what `backup`, `restore` and `verify-backup` need on top of
// Database. Credentials are not here: the AWS SDK takes them from its
// standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, IRSA's
// AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, a profile, instance
// metadata), so a secret never passes through our configuration.
type Backup struct {
	Bucket         string
	Prefix         string // without leading or trailing slash; may be empty
	Region         string
	Endpoint       string // empty means AWS S3 itself
	ForcePathStyle bool
	SSE            string // SSES3, SSEKMS or SSENone
	KMSKeyID       string // only with aws:kms; empty means the bucket's default key
	PartSize       int64  // bytes per multipart part
	Concurrency    int    // parts in flight at once
	PGBinDir       string // where pg_dump and pg_restore are; empty means $PATH
	VerifyURL      string // server on which verify-backup creates its scratch database
}

// Server-side encryption modes S3 offers without customer-held keys, and
// none, for S3-compatible stores that cannot encrypt (MinIO without a KMS
// refuses even SSE-S3 requests).
const (
	SSES3   = "AES256"
	SSEKMS  = "aws:kms"
	SSENone = "none"
)

// S3 parts are at least 5 MiB (except the last). A backup holds at most
// 10,000 parts, so the part size also caps the dump's size: 8 MiB allows
// 80 GiB.
const (
	minPartSizeMiB = 5
	maxPartSizeMiB = 512
)

// bucketName is S3's naming rule for general-purpose buckets.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// LoadBackup reads the BACKUP_* settings and AWS_REGION.
func LoadBackup(env Getenv) (Backup, error) {
	r := &reader{env: env}
	return r.backup(), r.err
}

// DescribeBackup lists the variables LoadBackup reads.
func DescribeBackup() []Variable { return describing(func(r *reader) { r.backup() }) }

func (r *reader) backup() Backup {
	b := Backup{
		Bucket:         r.str("BACKUP_S3_BUCKET", ""),
		Prefix:         strings.Trim(r.str("BACKUP_S3_PREFIX", "backups"), "/"),
		Region:         r.str("AWS_REGION", r.str("AWS_DEFAULT_REGION", "")),
		Endpoint:       r.str("BACKUP_S3_ENDPOINT", ""),
		ForcePathStyle: r.boolean("BACKUP_S3_FORCE_PATH_STYLE", false),
		SSE:            r.str("BACKUP_SSE", SSES3),
		KMSKeyID:       r.str("BACKUP_KMS_KEY_ID", ""),
		PartSize:       int64(r.intIn("BACKUP_PART_SIZE_MB", 8, minPartSizeMiB, maxPartSizeMiB)) << 20,
		Concurrency:    r.intIn("BACKUP_UPLOAD_CONCURRENCY", 4, 1, 16),
		PGBinDir:       r.str("BACKUP_PG_BIN_DIR", ""),
		VerifyURL:      r.str("BACKUP_VERIFY_URL", ""),
	}
	switch {
	case b.Bucket == "":
		r.fail("BACKUP_S3_BUCKET", "", "set it to the name of the bucket that holds the backups")
	case !bucketName.MatchString(b.Bucket):
		r.fail("BACKUP_S3_BUCKET", b.Bucket, "allowed: an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)")
	}
	if strings.Contains(b.Prefix, "//") {
		r.fail("BACKUP_S3_PREFIX", b.Prefix, `allowed: key segments separated by single slashes, e.g. "backups/prod"`)
	}
	if b.Region == "" {
		r.fail("AWS_REGION", "", `set it to the bucket's region, e.g. "eu-west-1" (S3-compatible stores usually accept "us-east-1")`)
	}
	if b.Endpoint != "" {
		u, err := url.Parse(b.Endpoint)
		switch {
		case err == nil && u.User != nil:
			// Never echo what looks like a secret.
			r.fail("BACKUP_S3_ENDPOINT", "<redacted>", "allowed: an http(s) URL without credentials (they come from the AWS credential chain)")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			r.fail("BACKUP_S3_ENDPOINT", b.Endpoint, "allowed: an http(s) URL without credentials, e.g. https://minio.example.com:9000")
		}
	}
	switch b.SSE {
	case SSES3:
		if b.KMSKeyID != "" {
			r.fail("BACKUP_KMS_KEY_ID", b.KMSKeyID, "allowed only with BACKUP_SSE=aws:kms")
		}
	case SSEKMS:
	case SSENone:
		if b.KMSKeyID != "" {
			r.fail("BACKUP_KMS_KEY_ID", b.KMSKeyID, "allowed only with BACKUP_SSE=aws:kms")
		}
	default:
		r.fail("BACKUP_SSE", b.SSE, "allowed: AES256 (SSE-S3), aws:kms (SSE-KMS, key from BACKUP_KMS_KEY_ID or the bucket default), or none for a store that cannot encrypt")
	}
	if b.VerifyURL != "" {
		if _, err := pgconn.ParseConfig(b.VerifyURL); err != nil || !isPostgresURL(b.VerifyURL) {
			// As with DATABASE_URL: the text may hold a password.
			r.fail("BACKUP_VERIFY_URL", "<redacted>", "allowed: a postgres:// URL whose role may CREATE DATABASE")
		}
	}
	return b
}

// RequirePostgresURL refuses a libpq key=value string where the backup
// commands take a database (name is the variable or flag, for the message).
// They hand the database to pg_dump/pg_restore with the password moved out
// of the URL into the child's environment, so it never shows in a process
// listing, which needs the URL form.
func RequirePostgresURL(name, raw string) error {
	if !isPostgresURL(raw) {
		return &Error{Var: name, Value: "<redacted>", Allowed: "allowed: a postgres:// URL naming a database (the backup commands need the URL form)"}
	}
	return nil
}

func isPostgresURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") && strings.Trim(u.Path, "/") != ""
}
