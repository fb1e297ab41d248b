package platform

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// awsBucket creates a private, versioned, encrypted bucket with lifecycle
// rules, a TLS-only policy and a writer identity limited to the prefix.
func (b *BackupStore) awsBucket(ctx *pulumi.Context, args *BackupStoreArgs) error {
	s := args.Settings
	a := s.AWS
	parent := pulumi.Parent(b)
	b.Region = args.Region
	b.EgressPorts = []int{443}
	b.SSE = "AES256"

	var key *kms.Key
	if a.Encryption == "kms" {
		var err error
		key, err = kms.NewKey(ctx, "backup-key", &kms.KeyArgs{
			Description:          pulumi.String("Encrypts exchange database backups"),
			EnableKeyRotation:    pulumi.Bool(true),
			DeletionWindowInDays: pulumi.Int(30),
		}, parent, pulumi.Protect(a.Protect))
		if err != nil {
			return fmt.Errorf("backup kms key: %w", err)
		}
		b.SSE, b.KMSKeyARN, b.HasKMSKey = "aws:kms", key.Arn, true
	}
	bucket, err := s3.NewBucketV2(ctx, "backup-bucket", &s3.BucketV2Args{
		BucketPrefix: pulumi.String(a.BucketPrefix + "-"),
		ForceDestroy: pulumi.Bool(a.ForceDestroy),
	}, parent, pulumi.Protect(a.Protect))
	if err != nil {
		return fmt.Errorf("backup bucket: %w", err)
	}
	bucketOpt := pulumi.Composite(parent, pulumi.DependsOn([]pulumi.Resource{bucket}))
	pab, err := s3.NewBucketPublicAccessBlock(ctx, "backup-bucket-public-access", &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, bucketOpt)
	if err != nil {
		return fmt.Errorf("backup bucket public access block: %w", err)
	}
	// Bucket-owner-enforced disables ACLs entirely: access is policy only.
	if _, err := s3.NewBucketOwnershipControls(ctx, "backup-bucket-ownership", &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, bucketOpt); err != nil {
		return fmt.Errorf("backup bucket ownership: %w", err)
	}
	if _, err := s3.NewBucketVersioningV2(ctx, "backup-bucket-versioning", &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, bucketOpt); err != nil {
		return fmt.Errorf("backup bucket versioning: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, "backup-bucket-encryption",
		&s3.BucketServerSideEncryptionConfigurationV2Args{Bucket: bucket.ID(), Rules: encryptionRules(key)}, bucketOpt); err != nil {
		return fmt.Errorf("backup bucket encryption: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, "backup-bucket-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("expire-backups"),
			Status: pulumi.String("Enabled"),
			Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(s.Prefix)},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{
				Days: pulumi.Int(s.RetentionDays),
			},
			NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
				NoncurrentDays: pulumi.Int(s.NoncurrentDays),
			},
			// A backup killed mid-upload leaves parts that cost money.
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(1),
			},
		}},
	}, bucketOpt); err != nil {
		return fmt.Errorf("backup bucket lifecycle: %w", err)
	}
	// S3 rejects a bucket policy while the public access block is being set.
	if _, err := s3.NewBucketPolicy(ctx, "backup-bucket-tls-only", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: bucket.Arn.ApplyT(denyInsecureTransport),
	}, parent, pulumi.DependsOn([]pulumi.Resource{pab})); err != nil {
		return fmt.Errorf("backup bucket policy: %w", err)
	}
	policy := writerPolicy(bucket.Arn, s.Prefix, key)
	if a.Writer == "irsa" {
		err = b.irsaWriter(ctx, args, policy)
	} else {
		err = b.iamUserWriter(ctx, policy)
	}
	if err != nil {
		return err
	}
	b.Bucket = bucket.Bucket
	return nil
}

func encryptionRules(key *kms.Key) s3.BucketServerSideEncryptionConfigurationV2RuleArray {
	if key == nil {
		return s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}}
	}
	return s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
		ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
			SseAlgorithm:   pulumi.String("aws:kms"),
			KmsMasterKeyId: key.Arn,
		},
		// S3 Bucket Keys cut KMS requests (and cost) per object.
		BucketKeyEnabled: pulumi.Bool(true),
	}}
}

type policyDoc struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal any            `json:"Principal,omitempty"`
	Action    any            `json:"Action"`
	Resource  any            `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func (p policyDoc) String() string {
	out, err := json.Marshal(p)
	if err != nil {
		// Only maps, slices and strings go in: Marshal cannot fail.
		panic(err)
	}
	return string(out)
}

func denyInsecureTransport(bucketARN string) string {
	return policyDoc{Version: "2012-10-17", Statement: []policyStatement{{
		Sid:       "DenyInsecureTransport",
		Effect:    "Deny",
		Principal: "*",
		Action:    "s3:*",
		Resource:  []string{bucketARN, bucketARN + "/*"},
		Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
	}}}.String()
}

// writerPolicy allows listing, reading and writing under the backup prefix
// only. AbortMultipartUpload lets a failed streaming upload clean up after
// itself; with KMS, the writer may use (not manage) the key.
func writerPolicy(bucketARN pulumi.StringOutput, prefix string, key *kms.Key) pulumi.StringOutput {
	keyARN := pulumi.String("").ToStringOutput()
	if key != nil {
		keyARN = key.Arn
	}
	return pulumi.All(bucketARN, keyARN).ApplyT(func(v []any) string {
		bucket, kmsKey := v[0].(string), v[1].(string)
		statements := []policyStatement{
			{
				Sid: "ListBackupPrefix", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket,
				Condition: map[string]any{"StringLike": map[string][]string{"s3:prefix": {prefix + "*"}}},
			},
			{
				Sid: "ReadWriteBackups", Effect: "Allow",
				Action:   []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"},
				Resource: bucket + "/" + prefix + "*",
			},
		}
		if kmsKey != "" {
			statements = append(statements, policyStatement{
				Sid: "UseBackupKey", Effect: "Allow",
				Action:   []string{"kms:GenerateDataKey", "kms:Decrypt"},
				Resource: kmsKey,
			})
		}
		return policyDoc{Version: "2012-10-17", Statement: statements}.String()
	}).(pulumi.StringOutput)
}

// iamUserWriter is the dev writer: an IAM user whose access key goes into a
// Kubernetes Secret (minikube has no IRSA).
func (b *BackupStore) iamUserWriter(ctx *pulumi.Context, policy pulumi.StringOutput) error {
	parent := pulumi.Parent(b)
	user, err := iam.NewUser(ctx, "backup-writer", &iam.UserArgs{Path: pulumi.String("/exchange/")}, parent)
	if err != nil {
		return fmt.Errorf("backup writer user: %w", err)
	}
	if _, err := iam.NewUserPolicy(ctx, "backup-writer-policy", &iam.UserPolicyArgs{User: user.Name, Policy: policy}, parent); err != nil {
		return fmt.Errorf("backup writer user policy: %w", err)
	}
	accessKey, err := iam.NewAccessKey(ctx, "backup-writer-key", &iam.AccessKeyArgs{User: user.Name}, parent)
	if err != nil {
		return fmt.Errorf("backup writer access key: %w", err)
	}
	b.AccessKeyID = pulumi.ToSecret(accessKey.ID().ToStringOutput()).(pulumi.StringOutput)
	b.SecretAccessKey = pulumi.ToSecret(accessKey.Secret).(pulumi.StringOutput)
	return nil
}

// irsaWriter is the prod writer: a role only the backup ServiceAccount of
// this cluster can assume through its OIDC provider; no long-lived key.
func (b *BackupStore) irsaWriter(ctx *pulumi.Context, args *BackupStoreArgs, policy pulumi.StringOutput) error {
	a := args.Settings.AWS
	parent := pulumi.Parent(b)
	trust := policyDoc{Version: "2012-10-17", Statement: []policyStatement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": a.OIDCProviderARN},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Condition: map[string]any{"StringEquals": map[string]string{
			a.OIDCIssuer + ":sub": fmt.Sprintf("system:serviceaccount:%s:%s", args.ServiceAccountNamespace, args.ServiceAccountName),
			a.OIDCIssuer + ":aud": "sts.amazonaws.com",
		}},
	}}}.String()
	role, err := iam.NewRole(ctx, "backup-writer", &iam.RoleArgs{
		Description:      pulumi.String("Writes exchange database backups (IRSA)"),
		AssumeRolePolicy: pulumi.String(trust),
	}, parent)
	if err != nil {
		return fmt.Errorf("backup writer role: %w", err)
	}
	if _, err := iam.NewRolePolicy(ctx, "backup-writer-policy", &iam.RolePolicyArgs{Role: role.Name, Policy: policy}, parent); err != nil {
		return fmt.Errorf("backup writer role policy: %w", err)
	}
	b.RoleARN = role.Arn
	b.UsesIRSA = true
	return nil
}
