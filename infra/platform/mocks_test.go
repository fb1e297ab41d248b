package platform

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// testSecrets stand in for `pulumi config set --secret`; each is unique so a
// leak can be found by searching for it.
var testSecrets = map[string]string{
	"exchange:appSecretKey":          "test-app-secret-key-0123456789abcdefghij",
	"exchange:dbPassword":            "test-db-password-0123456789",
	"exchange:dbAdminPassword":       "test-db-admin-password-0123456789",
	"exchange:grafanaAdminPassword":  "test-grafana-password-0123456789",
	"exchange:backupAccessKeyId":     "test-access-key-id",
	"exchange:backupSecretAccessKey": "test-secret-access-key-0123456789",
	"exchange:alertReceiverSecret":   "https://hooks.slack.com/services/TEST/ALERT/receiver-secret-0123",
}

// mockAWSSecret is what the mocked iam.AccessKey returns as its secret.
const mockAWSSecret = "mock-aws-secret-access-key-from-iam"

// declared is one resource registration as the engine would see it.
type declared struct {
	Type, Name string
	URN        string
	Custom     bool
	Remote     bool
	Parent     string
	Provider   string
	Protect    bool
	Ignore     []string // ignoreChanges
	Deps       []string
	// Inputs with secrets unwrapped, for assertions on values.
	Inputs map[string]any
	// Masked has every secret replaced by "[secret]", for leak checks.
	Masked map[string]any
}

type recorder struct {
	mu        sync.Mutex
	resources []*declared
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	d := &declared{
		Type: args.TypeToken, Name: args.Name, Custom: args.Custom,
		Inputs: toGo(resource.NewObjectProperty(args.Inputs), true).(map[string]any),
		Masked: toGo(resource.NewObjectProperty(args.Inputs), false).(map[string]any),
	}
	if rpc != nil {
		d.Remote, d.Parent, d.Provider, d.Protect = rpc.GetRemote(), rpc.GetParent(), rpc.GetProvider(), rpc.GetProtect()
		d.Deps = rpc.GetDependencies()
		d.Ignore = rpc.GetIgnoreChanges()
		d.URN = fmt.Sprintf("urn:pulumi:stack::project::%s::%s", args.TypeToken, args.Name)
	}
	r.mu.Lock()
	r.resources = append(r.resources, d)
	r.mu.Unlock()
	return args.Name + "-id", mockState(args), nil
}

// mockState echoes the inputs and adds what the real providers compute and
// the program reads back.
func mockState(args pulumi.MockResourceArgs) resource.PropertyMap {
	state := args.Inputs.Copy()
	switch args.TypeToken {
	case "kubernetes:helm.sh/v4:Chart":
		state["resources"] = resource.NewArrayProperty(nil)
	case "aws:s3/bucketV2:BucketV2":
		name := args.Name + "-mock-1234"
		state["bucket"] = resource.NewStringProperty(name)
		state["arn"] = resource.NewStringProperty("arn:aws:s3:::" + name)
	case "aws:kms/key:Key":
		state["arn"] = resource.NewStringProperty("arn:aws:kms:eu-central-1:111122223333:key/mock")
	case "aws:iam/user:User":
		state["name"] = resource.NewStringProperty(args.Name)
	case "aws:iam/role:Role":
		state["name"] = resource.NewStringProperty(args.Name)
		state["arn"] = resource.NewStringProperty("arn:aws:iam::111122223333:role/" + args.Name)
	case "aws:iam/accessKey:AccessKey":
		state["secret"] = resource.NewStringProperty(mockAWSSecret)
	}
	return state
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// toGo converts a property value to plain Go values; unknowns become nil.
func toGo(v resource.PropertyValue, unwrapSecrets bool) any {
	switch {
	case v.IsSecret():
		if !unwrapSecrets {
			return "[secret]"
		}
		return toGo(v.SecretValue().Element, true)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return nil
		}
		if o.Secret && !unwrapSecrets {
			return "[secret]"
		}
		return toGo(o.Element, unwrapSecrets)
	case v.IsComputed() || v.IsNull():
		return nil
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = toGo(e, unwrapSecrets)
		}
		return out
	case v.IsArray():
		var out []any
		for _, e := range v.ArrayValue() {
			out = append(out, toGo(e, unwrapSecrets))
		}
		return out
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	default:
		return v.V
	}
}

// result is one mocked run of the program.
type result struct {
	resources []*declared
	outputs   map[string]any
	// secretOutputs names outputs that are Pulumi secrets.
	secretOutputs []string
	err           error
}

// stackConfig is the committed Pulumi.<stack>.yaml plus test secrets.
func stackConfig(t *testing.T, stack string) map[string]stackfile.Value {
	t.Helper()
	cfg, err := stackfile.Read(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range testSecrets {
		cfg[k] = stackfile.Value{Value: v, Secure: true}
	}
	return cfg
}

// setConfig changes one value inside a structured key of cfg.
func setConfig(t *testing.T, cfg map[string]stackfile.Value, object, path string, value any) {
	t.Helper()
	if err := stackfile.Set(cfg, "exchange:"+object, path, value); err != nil {
		t.Fatal(err)
	}
}

// run executes the program under mocks with cfg, the way `pulumi up` would.
func run(t *testing.T, stack string, cfg map[string]stackfile.Value) *result {
	t.Helper()
	rec := &recorder{}
	res := &result{outputs: map[string]any{}}
	config := map[string]string{}
	var secretKeys []string
	for k, v := range cfg {
		config[k] = v.Value
		if v.Secure {
			secretKeys = append(secretKeys, k)
		}
	}
	var outputs map[string]pulumi.Output
	res.err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		outputs, err = declare(ctx)
		return err
	}, pulumi.WithMocks("exchange", stack, rec), func(info *pulumi.RunInfo) {
		info.Config = config
		info.ConfigSecretKeys = secretKeys
	})
	// Every registration has returned by now, so the outputs are resolved.
	for name, out := range outputs {
		if pulumi.IsSecret(out) {
			res.secretOutputs = append(res.secretOutputs, name)
		}
		value := make(chan any, 1)
		out.ApplyT(func(v any) any { value <- v; return v })
		select {
		case v := <-value:
			res.outputs[name] = v
		case <-time.After(10 * time.Second):
			t.Fatalf("output %s never resolved", name)
		}
	}
	res.resources = rec.resources
	sort.Strings(res.secretOutputs)
	return res
}

// runStack runs a committed stack and fails the test if the program fails.
func runStack(t *testing.T, stack string) *result {
	t.Helper()
	r := run(t, stack, stackConfig(t, stack))
	if r.err != nil {
		t.Fatalf("stack %s: %v", stack, r.err)
	}
	return r
}

func (r *result) ofType(typ string) []*declared {
	var out []*declared
	for _, d := range r.resources {
		if d.Type == typ {
			out = append(out, d)
		}
	}
	return out
}

// one returns the single resource of a type and name, failing otherwise.
func (r *result) one(t *testing.T, typ, name string) *declared {
	t.Helper()
	var found []*declared
	for _, d := range r.ofType(typ) {
		if d.Name == name {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, found %d", typ, name, len(found))
	}
	return found[0]
}

func (r *result) has(typ, name string) bool {
	for _, d := range r.ofType(typ) {
		if d.Name == name {
			return true
		}
	}
	return false
}

// dependsOn reports whether d lists a dependency on the resource typ/name.
func (d *declared) dependsOn(typ, name string) bool {
	for _, urn := range d.Deps {
		if strings.HasSuffix(urn, "::"+name) && strings.Contains(urn, typ) {
			return true
		}
	}
	return false
}

// get walks a dotted path through nested maps and arrays ("spec.template.0").
func get(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
