package platform

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// lokiRelease is the Loki release; with gateway off, the monolithic Service
// is named after it and listens on 3100.
const lokiRelease = "loki"

// LokiURL is where Grafana queries and Alloy pushes logs.
func LokiURL(s settings.Logging) string {
	return fmt.Sprintf("http://%s.%s.svc.cluster.local:3100", lokiRelease, s.Namespace)
}

// LoggingArgs configures Loki and Alloy.
type LoggingArgs struct {
	Settings settings.Logging
}

// Logging is Loki in monolithic (single binary) mode on a filesystem volume
// with retention, and Grafana Alloy tailing every pod's logs through the
// Kubernetes API.
type Logging struct {
	pulumi.ResourceState

	Namespace pulumi.StringOutput
	LokiURL   pulumi.StringOutput
}

// NewLogging declares the logging stack.
func NewLogging(ctx *pulumi.Context, name string, args *LoggingArgs, opts ...pulumi.ResourceOption) (*Logging, error) {
	l := &Logging{}
	if err := ctx.RegisterComponentResource("exchange:platform:Logging", name, l, opts...); err != nil {
		return nil, fmt.Errorf("logging component: %w", err)
	}
	s := args.Settings
	parent := pulumi.Parent(l)
	ns, err := newNamespace(ctx, s.Namespace, psaBaseline, parent)
	if err != nil {
		return nil, err
	}
	loki, err := newChart(ctx, lokiRelease, s.LokiChart, ns.Metadata.Name().Elem(), lokiValues(s), parent)
	if err != nil {
		return nil, err
	}
	// Alloy retries pushes, but waiting for Loki keeps the first rollout quiet.
	if _, err := newChart(ctx, "alloy", s.AlloyChart, ns.Metadata.Name().Elem(), alloyValues(s), parent, dependsOnChart(loki)); err != nil {
		return nil, err
	}
	l.Namespace = ns.Metadata.Name().Elem()
	l.LokiURL = pulumi.String(LokiURL(s)).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(l, pulumi.Map{"namespace": l.Namespace, "lokiUrl": l.LokiURL}); err != nil {
		return nil, fmt.Errorf("logging outputs: %w", err)
	}
	return l, nil
}

// lokiValues are verified against grafana-community loki chart 18.11.0.
func lokiValues(s settings.Logging) pulumi.Map {
	zero := pulumi.Map{"replicas": pulumi.Int(0)}
	off := pulumi.Map{"enabled": pulumi.Bool(false)}
	return pulumi.Map{
		"deploymentMode": pulumi.String("Monolithic"),
		"loki": pulumi.Map{
			// One tenant; Loki is only reachable inside the cluster.
			"auth_enabled":  pulumi.Bool(false),
			"commonConfig":  pulumi.Map{"replication_factor": pulumi.Int(1)},
			"storage":       pulumi.Map{"type": pulumi.String("filesystem")},
			"schemaConfig":  pulumi.Map{"configs": pulumi.Array{lokiSchema()}},
			"limits_config": pulumi.Map{"retention_period": pulumi.String(s.Retention)},
			// The compactor applies retention_period; it needs to know where
			// delete requests live.
			"compactor": pulumi.Map{
				"retention_enabled":    pulumi.Bool(true),
				"delete_request_store": pulumi.String("filesystem"),
			},
		},
		"singleBinary": pulumi.Map{
			"replicas":    pulumi.Int(1),
			"resources":   resourcesValues(s.LokiResources),
			"persistence": pulumi.Map{"size": pulumi.String(s.StorageSize)},
		},
		// Monolithic mode: every scalable target off.
		"read": zero, "write": zero, "backend": zero,
		// The memcached caches request gigabytes of memory by default.
		"chunksCache": off, "resultsCache": off,
		// The canary and the Helm test (a hook) only matter for Loki's own CI.
		"lokiCanary": off, "test": off,
		// Clients talk to the Loki Service directly; no nginx gateway.
		"gateway": off,
	}
}

func lokiSchema() pulumi.Map {
	return pulumi.Map{
		"from":         pulumi.String("2024-04-01"),
		"store":        pulumi.String("tsdb"),
		"object_store": pulumi.String("filesystem"),
		"schema":       pulumi.String("v13"),
		"index":        pulumi.Map{"prefix": pulumi.String("index_"), "period": pulumi.String("24h")},
	}
}

// alloyConfig tails pod logs through the API server (no hostPath, so Alloy
// runs as non-root with a read-only root filesystem) and labels them with
// namespace, pod, container and app.
func alloyConfig(lokiURL string) string {
	return `discovery.kubernetes "pods" {
  role = "pod"
}

discovery.relabel "pods" {
  targets = discovery.kubernetes.pods.targets

  rule {
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }
}

loki.source.kubernetes "pods" {
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}

loki.write "default" {
  endpoint {
    url = "` + lokiURL + `/loki/api/v1/push"
  }
}
`
}

// alloyValues are verified against grafana/alloy chart 1.11.1.
func alloyValues(s settings.Logging) pulumi.Map {
	return pulumi.Map{
		// The PodLogs CRD is for loki.source.podlogs, which we do not use.
		"crds": pulumi.Map{"create": pulumi.Bool(false)},
		// loki.source.kubernetes in a single replica sees every pod; a
		// DaemonSet would ship each line once per node.
		"controller": pulumi.Map{
			"type":     pulumi.String("deployment"),
			"replicas": pulumi.Int(1),
			"volumes": pulumi.Map{"extra": pulumi.Array{pulumi.Map{
				"name": pulumi.String("storage"), "emptyDir": pulumi.Map{},
			}}},
		},
		// Least privilege: only what discovery.kubernetes and
		// loki.source.kubernetes need (the default also reads Secrets).
		"rbac": pulumi.Map{"rules": pulumi.Array{pulumi.Map{
			"apiGroups": pulumi.StringArray{pulumi.String("")},
			"resources": pulumi.StringArray{pulumi.String("pods"), pulumi.String("pods/log"), pulumi.String("namespaces")},
			"verbs":     pulumi.StringArray{pulumi.String("get"), pulumi.String("list"), pulumi.String("watch")},
		}}},
		"alloy": pulumi.Map{
			"configMap": pulumi.Map{"content": pulumi.String(alloyConfig(LokiURL(s)))},
			// No usage reports: the cluster may have no egress.
			"enableReporting": pulumi.Bool(false),
			"storagePath":     pulumi.String("/var/lib/alloy"),
			"mounts": pulumi.Map{"extra": pulumi.Array{pulumi.Map{
				"name": pulumi.String("storage"), "mountPath": pulumi.String("/var/lib/alloy"),
			}}},
			"resources": resourcesValues(s.AlloyResources),
			"securityContext": pulumi.Map{
				"runAsNonRoot":             pulumi.Bool(true),
				"runAsUser":                pulumi.Int(473),
				"runAsGroup":               pulumi.Int(473),
				"readOnlyRootFilesystem":   pulumi.Bool(true),
				"allowPrivilegeEscalation": pulumi.Bool(false),
				"capabilities":             pulumi.Map{"drop": pulumi.StringArray{pulumi.String("ALL")}},
				"seccompProfile":           pulumi.Map{"type": pulumi.String("RuntimeDefault")},
			},
		},
	}
}
