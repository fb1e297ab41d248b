package config

// docs says what each variable is for, in the help of the subcommands
// that read it (`exchange SUB --help`). A test keeps it in step with the
// loaders: every variable they read has a line here, and nothing else.
var docs = map[string]string{
	"DATABASE_URL":               "PostgreSQL URL (postgres://user@host:5432/db?sslmode=...); the password may come from PGPASSWORD",
	"DB_MAX_OPEN_CONNS":          "connections the pool may open",
	"DB_MAX_IDLE_CONNS":          "idle connections the pool keeps",
	"DB_CONN_MAX_LIFETIME":       "how long a pooled connection lives",
	"HTTP_ADDR":                  "public listener: the API, the site, /healthz and /readyz",
	"INTERNAL_ADDR":              "internal listener: /metrics and the replicas' sequencer door",
	"ADVERTISE_URL":              "URL other replicas reach this one's internal listener at (Kubernetes: the pod IP)",
	"EXCHANGE_MODE":              "live, or demo (deposits credited at once, for trying the exchange)",
	"SECURE_COOKIES":             "mark cookies Secure (HTTPS only); false only for plain-HTTP development",
	"HTTP_READ_TIMEOUT":          "longest time to read a request",
	"HTTP_WRITE_TIMEOUT":         "longest time to write a response",
	"HTTP_IDLE_TIMEOUT":          "how long an idle keep-alive connection stays open",
	"REQUEST_TIMEOUT":            "longest time a request may take before it is answered 503",
	"SHUTDOWN_TIMEOUT":           "how long SIGTERM waits for requests to drain before the leadership is handed over",
	"LEDGER_CHECK_INTERVAL":      "how often the leader checks the ledger's invariants",
	"PPROF_ADDR":                 "host:port of Go's profiler; off when empty",
	"TRUSTED_PROXIES":            "networks whose X-Forwarded-For is believed (the ingress controller's pods)",
	"RATE_LIMITS":                "request budgets: overrides like orders.user=100/1s:200, or off (load tests only)",
	"SECRET_KEY":                 "at least 32 random bytes: signs sessions, seals API secrets, authenticates replicas",
	"LOG_LEVEL":                  "debug, info, warn or error",
	"BACKUP_S3_BUCKET":           "bucket that holds the backups",
	"BACKUP_S3_PREFIX":           "key prefix of the backups in the bucket",
	"AWS_REGION":                 "the bucket's region",
	"AWS_DEFAULT_REGION":         "read when AWS_REGION is not set",
	"BACKUP_S3_ENDPOINT":         "URL of an S3-compatible store; empty for AWS S3",
	"BACKUP_S3_FORCE_PATH_STYLE": "path-style bucket URLs (most S3-compatible stores)",
	"BACKUP_SSE":                 "server-side encryption: AES256, aws:kms or none",
	"BACKUP_KMS_KEY_ID":          "KMS key for aws:kms; empty for the bucket's default",
	"BACKUP_PART_SIZE_MB":        "upload part size in MiB (caps a dump at 10,000 parts)",
	"BACKUP_UPLOAD_CONCURRENCY":  "parts uploaded at once",
	"BACKUP_PG_BIN_DIR":          "directory of pg_dump and pg_restore; empty for PATH",
	"BACKUP_VERIFY_URL":          "PostgreSQL URL whose role may CREATE DATABASE, for verify-backup's scratch database",
}
