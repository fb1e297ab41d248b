package config

import (
	"strings"
	"testing"
)

func TestLoadBackupDefaults(t *testing.T) {
	b, err := LoadBackup(envOf(map[string]string{"BACKUP_S3_BUCKET": "exchange-backups", "AWS_REGION": "eu-west-1", "BACKUP_S3_PREFIX": "/prod/db/"}))
	if err != nil {
		t.Fatal(err)
	}
	if b.Prefix != "prod/db" || b.SSE != SSES3 || b.PartSize != 8<<20 || b.Concurrency != 4 || b.ForcePathStyle || b.Endpoint != "" {
		t.Fatalf("unexpected defaults: %+v", b)
	}
	b, err = LoadBackup(envOf(map[string]string{"BACKUP_S3_BUCKET": "b-1", "AWS_DEFAULT_REGION": "us-east-1", "BACKUP_SSE": "aws:kms", "BACKUP_KMS_KEY_ID": "alias/backups",
		"BACKUP_S3_ENDPOINT": "https://minio.internal:9000", "BACKUP_S3_FORCE_PATH_STYLE": "true", "BACKUP_VERIFY_URL": "postgres://verify@scratch:5432/postgres"}))
	if err != nil || b.Region != "us-east-1" || b.KMSKeyID != "alias/backups" || !b.ForcePathStyle {
		t.Fatalf("%+v %v", b, err)
	}
}

func TestBackupValidationMessages(t *testing.T) {
	ok := map[string]string{"BACKUP_S3_BUCKET": "exchange-backups", "AWS_REGION": "eu-west-1"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k2, v2 := range ok {
			if k2 != k {
				m[k2] = v2
			}
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bucket with capitals", with("BACKUP_S3_BUCKET", "My_Bucket"), `BACKUP_S3_BUCKET="My_Bucket" is invalid; allowed: an S3 bucket name`},
		{"doubled slash in prefix", with("BACKUP_S3_PREFIX", "a//b"), `BACKUP_S3_PREFIX="a//b" is invalid`},
		{"endpoint without scheme", with("BACKUP_S3_ENDPOINT", "minio:9000"), `BACKUP_S3_ENDPOINT="minio:9000" is invalid; allowed: an http(s) URL`},
		{"endpoint with credentials", with("BACKUP_S3_ENDPOINT", "https://ak:sk@minio:9000"), `BACKUP_S3_ENDPOINT="<redacted>" is invalid; allowed: an http(s) URL without credentials`},
		{"verify url hides its password", with("BACKUP_VERIFY_URL", "host=db password=hunter2"), `BACKUP_VERIFY_URL="<redacted>" is invalid; allowed: a postgres:// URL whose role may CREATE DATABASE`},
		{"kms key without kms", with("BACKUP_KMS_KEY_ID", "alias/x"), `BACKUP_KMS_KEY_ID="alias/x" is invalid; allowed only with BACKUP_SSE=aws:kms`},
		{"unknown sse", with("BACKUP_SSE", "aes256"), `BACKUP_SSE="aes256" is invalid; allowed: AES256 (SSE-S3), aws:kms`},
		{"concurrency out of range", with("BACKUP_UPLOAD_CONCURRENCY", "64"), `BACKUP_UPLOAD_CONCURRENCY="64" is invalid; allowed: an integer from 1 to 16`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBackup(envOf(c.env))
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant prefix %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ak:sk") {
				t.Fatalf("error leaks a secret: %q", err)
			}
		})
	}
}
