package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// Errors a caller (or test) can tell apart; messages add the details.
var (
	ErrUnreachable  = errors.New("S3 unreachable")
	ErrAccessDenied = errors.New("S3 access denied")
	ErrNoBucket     = errors.New("bucket does not exist")
	ErrNoBackup     = errors.New("no backup found")
)

// Store is the bucket and key prefix the backups live under.
type Store struct {
	client   *s3.Client
	uploader *transfermanager.Client
	bucket   string
	prefix   string
	where    string // the endpoint, for messages
	sse      string
	kmsKeyID string
}

// NewStore builds the S3 client. Credentials come from the AWS SDK's
// standard chain: environment, web identity (IRSA), shared config, instance
// metadata.
func NewStore(ctx context.Context, cfg config.Backup) (*Store, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.ForcePathStyle
		// Stores that return no checksum (most S3-compatible ones, and
		// any object uploaded without one) would get a plain-text SDK line
		// on stderr per read; the restore checks its own SHA-256 anyway.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	// Memory is bounded by the parts in flight: Concurrency+1 buffers of
	// PartSize, plus the first part read before the upload starts (the
	// threshold equals the part size so it is no bigger than a part).
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		// Abort the multipart upload with a fresh context, so a run
		// stopped by SIGTERM (a cancelled context) still cleans up.
		o.FailTimeout = time.Minute
	})
	where := cfg.Endpoint
	if where == "" {
		where = "AWS S3 (" + cfg.Region + ")"
	}
	return &Store{
		client: client, uploader: uploader, bucket: cfg.Bucket, prefix: cfg.Prefix,
		where: where, sse: cfg.SSE, kmsKeyID: cfg.KMSKeyID,
	}, nil
}

// Location names a key for messages: s3://bucket/key.
func (s *Store) Location(key string) string { return "s3://" + s.bucket + "/" + key }

// Check proves, before any work, that the store is reachable, the bucket
// exists and the credentials may use it.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err != nil {
		return s.explain("check bucket", err, true)
	}
	return nil
}

// upload streams body to key. On any failure the multipart upload is
// aborted, so no object appears.
func (s *Store) upload(ctx context.Context, key string, body io.Reader, meta map[string]string) error {
	in := &transfermanager.UploadObjectInput{
		Bucket:      &s.bucket,
		Key:         &key,
		Body:        body,
		ContentType: aws.String("application/octet-stream"),
		Metadata:    meta,
		// Never replace an existing backup (two runs in the same second).
		IfNoneMatch: aws.String("*"),
	}
	if s.sse != config.SSENone {
		in.ServerSideEncryption = tmtypes.ServerSideEncryption(s.sse)
	}
	if s.kmsKeyID != "" {
		in.SSEKMSKeyID = &s.kmsKeyID
	}
	if _, err := s.uploader.UploadObject(ctx, in); err != nil {
		return s.explain("upload "+s.Location(key), err, false)
	}
	return nil
}

func (s *Store) putManifest(ctx context.Context, m Manifest) error {
	key, err := ManifestKey(m.Key)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:      &s.bucket,
		Key:         &key,
		Body:        bytes.NewReader(data),
		ContentType: aws.String("application/json"),
		IfNoneMatch: aws.String("*"),
	}
	if s.sse != config.SSENone {
		in.ServerSideEncryption = s3types.ServerSideEncryption(s.sse)
	}
	if s.kmsKeyID != "" {
		in.SSEKMSKeyId = &s.kmsKeyID
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return s.explain("write manifest "+s.Location(key), err, false)
	}
	return nil
}

// Manifest reads the manifest of the backup whose dump is at dumpKey.
func (s *Store) Manifest(ctx context.Context, dumpKey string) (Manifest, error) {
	key, err := ManifestKey(dumpKey)
	if err != nil {
		return Manifest{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return Manifest{}, fmt.Errorf("%w at %s: it has no manifest %s, so it never completed", ErrNoBackup, s.Location(dumpKey), key)
		}
		return Manifest{}, s.explain("read manifest "+s.Location(key), err, false)
	}
	defer out.Body.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("read manifest %s: %w", s.Location(key), err)
	}
	if m.Format != manifestFormat || m.Key != dumpKey || len(m.SHA256) != 64 {
		return Manifest{}, fmt.Errorf("manifest %s is not a format-%d manifest of %s", s.Location(key), manifestFormat, dumpKey)
	}
	return m, nil
}

// Latest is the newest complete backup of database.
func (s *Store) Latest(ctx context.Context, database string) (Manifest, error) {
	dir := databaseDir(s.prefix, database)
	keys, err := s.list(ctx, dir)
	if err != nil {
		return Manifest{}, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if base, ok := strings.CutSuffix(keys[i], manifestSuffix); ok {
			return s.Manifest(ctx, base+dumpSuffix)
		}
	}
	return Manifest{}, fmt.Errorf("%w under %s", ErrNoBackup, s.Location(dir))
}

// list returns every key under dir, sorted.
func (s *Store) list(ctx context.Context, dir string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &dir})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.explain("list "+s.Location(dir), err, false)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// open streams an object.
func (s *Store) open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, s.explain("read "+s.Location(key), err, false)
	}
	return out.Body, nil
}

func (s *Store) delete(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return s.explain("delete "+s.Location(key), err, false)
	}
	return nil
}

// explain turns the SDK's error into one that says what to fix. A 404 means
// a missing bucket only for bucket-level calls.
func (s *Store) explain(op string, err error, bucketCall bool) error {
	var (
		sendErr *smithyhttp.RequestSendError
		respErr *awshttp.ResponseError
		apiErr  smithy.APIError
		netErr  *net.OpError
	)
	status := 0
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case errors.As(err, &sendErr):
		cause := sendErr.Err
		if errors.As(err, &netErr) {
			cause = netErr
		}
		return fmt.Errorf("%s: %w at %s: %v", op, ErrUnreachable, s.where, cause)
	case status == 403 || code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken":
		return fmt.Errorf("%s: %w (%s): check the credentials and that they may use bucket %q", op, ErrAccessDenied, codeOr(code, status), s.bucket)
	case code == "NoSuchBucket" || (bucketCall && status == 404):
		return fmt.Errorf("%s: %w: %q at %s", op, ErrNoBucket, s.bucket, s.where)
	case apiErr != nil:
		// The SDK's text carries request ids and the like; the code and
		// message are what an operator acts on.
		return &reworded{msg: fmt.Sprintf("%s: S3 refused it: %s: %s", op, code, apiErr.ErrorMessage()), err: err}
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

func codeOr(code string, status int) string {
	if code != "" {
		return code
	}
	return fmt.Sprintf("HTTP %d", status)
}
