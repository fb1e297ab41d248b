package settings

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// problems collects every violated rule so one preview reports all of them.
type problems struct{ errs []error }

func (p *problems) add(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *problems) err() error { return errors.Join(p.errs...) }

func (p *problems) intRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		p.add("%s: %d is out of range; allowed %d..%d", key, v, lo, hi)
	}
}

func (p *problems) oneOf(key, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		p.add("%s: %q is not allowed; allowed one of %s", key, v, strings.Join(allowed, ", "))
	}
}

// dnsLabel is an RFC 1123 label, what Kubernetes requires of namespace names.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (p *problems) namespace(key, v string) {
	if len(v) > 63 || !dnsLabel.MatchString(v) {
		p.add("%s: %q is not a valid namespace name; allowed lowercase letters, digits and '-', at most 63 characters, starting and ending alphanumeric", key, v)
	}
}

var pgIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// objectName is an RFC 1123 subdomain, what most Kubernetes object names
// (Secrets, IngressClasses) must be.
var objectName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (p *problems) objectName(key, v string) {
	if len(v) > 253 || !objectName.MatchString(v) {
		p.add("%s: %q is not a valid Kubernetes object name; allowed lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending alphanumeric", key, v)
	}
}

func (p *problems) identifier(key, v string) {
	if !pgIdentifier.MatchString(v) {
		p.add("%s: %q is not a valid PostgreSQL identifier; allowed lowercase letters, digits and '_', starting with a letter or '_', at most 63 characters", key, v)
	}
}

// hostname accepts a fully qualified DNS name with at least two labels, as an
// Ingress rule host requires (no wildcard, port or scheme).
func (p *problems) hostname(key, v string) {
	labels := strings.Split(v, ".")
	ok := len(v) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && len(l) <= 63 && dnsLabel.MatchString(l)
	}
	if !ok {
		p.add("%s: %q is not a valid hostname; allowed a lowercase DNS name with at least two labels, such as exchange.example.com", key, v)
	}
}

// quantity matches the Kubernetes resource.Quantity forms used for cpu and
// memory (decimal or binary SI suffixes, optional millis for cpu).
var quantity = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)

func (p *problems) quantity(key, v string) {
	if !quantity.MatchString(v) {
		p.add("%s: %q is not a valid Kubernetes quantity; allowed forms such as 100m, 0.5, 128Mi, 1Gi", key, v)
	}
}

func (p *problems) resources(key string, r Resources) {
	p.quantity(key+".requests.cpu", r.Requests.CPU)
	p.quantity(key+".requests.memory", r.Requests.Memory)
	p.quantity(key+".limits.cpu", r.Limits.CPU)
	p.quantity(key+".limits.memory", r.Limits.Memory)
}

// storageSize is a quantity that must be set, and in binary units so the
// PersistentVolumeClaim asks for what the operator means.
var storageSize = regexp.MustCompile(`^[1-9][0-9]*(Mi|Gi|Ti)$`)

func (p *problems) storage(key, v string) {
	if !storageSize.MatchString(v) {
		p.add("%s: %q is not a valid volume size; allowed a whole number with Mi, Gi or Ti, such as 10Gi", key, v)
	}
}

// semver is an exact chart version: ranges, "latest" or empty would let a
// re-run of the same commit install something else.
var semver = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func (p *problems) chart(key string, c ChartRef) {
	if !semver.MatchString(c.Version) {
		p.add("%s.version: %q is not a pinned chart version; allowed an exact version such as 1.2.3", key, c.Version)
	}
	if c.Name == "" || strings.ContainsAny(c.Name, "/: ") {
		p.add("%s.name: %q is not a chart name; allowed the bare chart name such as loki", key, c.Name)
	}
	u, err := url.Parse(c.Repo)
	if err != nil || u.Host == "" || !slices.Contains([]string{"https", "http", "oci"}, u.Scheme) {
		p.add("%s.repo: %q is not a chart repository URL; allowed an https://, http:// or oci:// URL", key, c.Repo)
	}
}

// imageTag is a Docker tag; "latest" is refused because it is not a pin.
var imageTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func (p *problems) image(key string, i Image) {
	if i.Repository == "" || strings.ContainsAny(i.Repository, " @") || strings.Contains(i.Repository, "://") {
		p.add("%s.repository: %q is not an image repository; allowed a name such as ghcr.io/org/image", key, i.Repository)
	}
	if !imageTag.MatchString(i.Tag) || strings.EqualFold(i.Tag, "latest") {
		p.add("%s.tag: %q is not a pinned image tag; allowed a fixed tag such as 1.2.3 or a commit SHA (not latest)", key, i.Tag)
	}
}

// trustedCIDR is one network the exchange believes X-Forwarded-For from,
// in the form the server parses (net.ParseCIDR). A /0 would let any client
// name the address its per-IP limits count.
func (p *problems) trustedCIDR(key, v string) {
	_, network, err := net.ParseCIDR(v)
	if err != nil {
		p.add("%s: %q is not a CIDR; allowed an address range such as 10.244.0.0/16, the network the ingress controller's pods connect from", key, v)
		return
	}
	if ones, _ := network.Mask.Size(); ones == 0 {
		p.add("%s: %q trusts every address; allowed the network the ingress controller's pods connect from, such as 10.244.0.0/16", key, v)
	}
}

func (p *problems) duration(key, v string, lo, hi time.Duration) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		p.add("%s: %q is not allowed; allowed a Go duration from %s to %s, such as 25s", key, v, lo, hi)
	}
}

// promDuration is a Prometheus/Loki duration such as 2d, 12h or 168h.
var promDuration = regexp.MustCompile(`^[1-9][0-9]*(h|d|w|y)$`)

func (p *problems) retention(key, v string) {
	if !promDuration.MatchString(v) {
		p.add("%s: %q is not a retention period; allowed a whole number of h, d, w or y, such as 168h or 15d", key, v)
	}
}

func (p *problems) endpoint(key, v string) {
	u, err := url.Parse(v)
	if err == nil && u.User != nil {
		// The exchange refuses such an endpoint (BACKUP_S3_ENDPOINT), and
		// it would put a credential into a plain environment variable;
		// the text may be one, so it is not echoed.
		p.add("%s: \"<redacted>\" holds credentials; allowed a URL without them (they are the secrets backupAccessKeyId and backupSecretAccessKey)", key)
		return
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		p.add("%s: %q is not an S3 endpoint; allowed an http:// or https:// URL with host and optional port, no path", key, v)
		return
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.add("%s: %q has an invalid port; allowed 1..65535", key, v)
		}
	}
}

var (
	// bucketPrefix leaves room for the 26-character suffix Pulumi appends.
	bucketPrefix    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,36}$`)
	bucketName      = regexp.MustCompile(S3BucketNamePattern)
	oidcProviderARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[a-z0-9.-]+(/[A-Za-z0-9._-]+)*$`)
	oidcIssuer      = regexp.MustCompile(`^[a-z0-9.-]+(/[A-Za-z0-9._-]+)*$`)
	keyPrefix       = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$`)
)

// validPrefix accepts an S3 key prefix that ends in "/" so the lifecycle rule
// and the IAM policy cover exactly the backup objects.
func validPrefix(s string) bool { return keyPrefix.MatchString(s) }

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
