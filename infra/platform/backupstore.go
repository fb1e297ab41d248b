package platform

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// BackupStoreArgs configures where backups go.
type BackupStoreArgs struct {
	Settings settings.Backup
	// Region is the AWS region of a bucket this program creates.
	Region string
	// ServiceAccount is the identity backup pods run as; an IRSA role
	// trusts exactly this one.
	ServiceAccountNamespace string
	ServiceAccountName      string
	// AccessKeyID and SecretAccessKey are the configured credentials of an
	// existing S3-compatible store (unused for an AWS bucket).
	AccessKeyID     pulumi.StringInput
	SecretAccessKey pulumi.StringInput
}

// BackupStore is the bucket backups are written to: an AWS bucket created
// here, or an existing S3-compatible bucket named in config. Either way it
// tells the backup jobs the same things.
type BackupStore struct {
	pulumi.ResourceState

	Bucket         pulumi.StringOutput
	Region         string
	Endpoint       string // empty for AWS
	ForcePathStyle bool
	// EgressPorts are the TCP ports backup pods must reach the store on.
	EgressPorts []int
	// SSE is the server-side encryption the backup job requests per object
	// ("AES256", "aws:kms" or, for an S3-compatible store, "none"). KMSKeyARN
	// is the key for aws:kms when HasKMSKey (else the bucket's default key).
	// An explicit AES256 request would override the bucket's KMS default, so
	// the job must ask for what the bucket uses.
	SSE       string
	KMSKeyARN pulumi.StringOutput
	HasKMSKey bool
	// Static credentials (secret outputs), set unless RoleARN is.
	AccessKeyID     pulumi.StringOutput
	SecretAccessKey pulumi.StringOutput
	// RoleARN is the IRSA role the backup ServiceAccount assumes.
	RoleARN  pulumi.StringOutput
	UsesIRSA bool
}

// NewBackupStore declares the store selected by config. No AWS resource (not
// even a provider) exists for an S3-compatible store, so that setup needs no
// AWS account or AWS provider plugin.
func NewBackupStore(ctx *pulumi.Context, name string, args *BackupStoreArgs, opts ...pulumi.ResourceOption) (*BackupStore, error) {
	b := &BackupStore{}
	if err := ctx.RegisterComponentResource("exchange:platform:BackupStore", name, b, opts...); err != nil {
		return nil, fmt.Errorf("backup store component: %w", err)
	}
	s := args.Settings
	if s.Store == "s3-compatible" {
		c := s.S3Compatible
		b.Bucket = pulumi.String(c.Bucket).ToStringOutput()
		b.Region = c.Region
		b.Endpoint = c.Endpoint
		b.ForcePathStyle = c.ForcePathStyle
		b.EgressPorts = endpointPorts(c.Endpoint)
		// MinIO without a KMS refuses SSE requests: sse none.
		b.SSE = c.SSE
		if c.KMSKeyID != "" {
			b.KMSKeyARN, b.HasKMSKey = pulumi.String(c.KMSKeyID).ToStringOutput(), true
		}
		b.AccessKeyID = pulumi.ToSecret(args.AccessKeyID).(pulumi.StringOutput)
		b.SecretAccessKey = pulumi.ToSecret(args.SecretAccessKey).(pulumi.StringOutput)
	} else if err := b.awsBucket(ctx, args); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{"bucket": b.Bucket}); err != nil {
		return nil, fmt.Errorf("backup store outputs: %w", err)
	}
	return b, nil
}

// endpointPorts returns 443 (plus the endpoint's own port, if any): the
// backup pods reach AWS STS/S3 on 443 and a custom store on its URL's port.
func endpointPorts(endpoint string) []int {
	ports := []int{443}
	u, err := url.Parse(endpoint)
	if err != nil {
		return ports
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 && u.Scheme == "http" {
		port = 80
	}
	if port != 0 && port != 443 {
		ports = append(ports, port)
	}
	return ports
}
