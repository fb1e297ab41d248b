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
func lokiValues(s settings.Logging) lokiChart {
	zero, off := replicaCount{Replicas: 0}, enabled{Enabled: false}
	return lokiChart{
		DeploymentMode: "Monolithic",
		Loki: lokiConfig{
			// One tenant; Loki is only reachable inside the cluster.
			AuthEnabled:  false,
			CommonConfig: lokiCommon{ReplicationFactor: 1},
			Storage:      lokiStorage{Type: "filesystem"},
			SchemaConfig: lokiSchemaConfig{Configs: []lokiSchema{{
				From: "2024-04-01", Store: "tsdb", ObjectStore: "filesystem", Schema: "v13",
				Index: lokiIndex{Prefix: "index_", Period: "24h"},
			}}},
			LimitsConfig: lokiLimits{RetentionPeriod: s.Retention},
			// The compactor applies retention_period; it needs to know
			// where delete requests live.
			Compactor: lokiCompactor{RetentionEnabled: true, DeleteRequestStore: "filesystem"},
			// No phoning home: Loki reports usage statistics unless told
			// not to, and the cluster may have no egress.
			Analytics: lokiAnalytics{ReportingEnabled: false},
		},
		SingleBinary: lokiSingleBinary{
			Replicas:    1,
			Resources:   resourcesValues(s.LokiResources),
			Persistence: lokiPersistence{Size: s.StorageSize},
		},
		// Monolithic mode: every scalable target off.
		Read: zero, Write: zero, Backend: zero,
		// The memcached caches request gigabytes of memory by default.
		ChunksCache: off, ResultsCache: off,
		// The canary and the Helm test (a hook) only matter for Loki's own CI.
		LokiCanary: off, Test: off,
		// Clients talk to the Loki Service directly; no nginx gateway.
		Gateway: off,
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

// alloyRBAC is the least privilege for alloyConfig: what discovery.kubernetes
// (role pod, no attach_metadata: a pod informer over all namespaces in
// Prometheus v3.12.0's discovery/kubernetes, which Alloy v1.18.1 uses) and
// loki.source.kubernetes (kubetail: Pods().Get and GetLogs, the pods/log
// subresource) call. The chart's defaults would also read Secrets,
// ConfigMaps, Nodes and /metrics. Both lists are given because the chart
// renders an empty one as a literal [] inside the ClusterRole's rules,
// which is not YAML, and a left-out clusterRules keeps its default; the
// split is by component.
func alloyRBAC() alloyRBACValues {
	return alloyRBACValues{
		Rules: []policyRule{{
			// discovery.kubernetes
			APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"},
		}},
		ClusterRules: []policyRule{{
			// loki.source.kubernetes
			APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get"},
		}},
	}
}

// alloyValues are verified against grafana/alloy chart 1.11.1.
func alloyValues(s settings.Logging) alloyChart {
	return alloyChart{
		// The PodLogs CRD is for loki.source.podlogs, which we do not use.
		CRDs: create{Create: false},
		// loki.source.kubernetes in a single replica sees every pod; a
		// DaemonSet would ship each line once per node.
		Controller: alloyController{
			Type:     "deployment",
			Replicas: 1,
			Volumes:  alloyVolumes{Extra: []emptyDirVolume{{Name: "storage"}}},
		},
		RBAC: alloyRBAC(),
		Alloy: alloySettings{
			ConfigMap: alloyConfigMap{Content: alloyConfig(LokiURL(s))},
			// No usage reports: the cluster may have no egress.
			EnableReporting: false,
			StoragePath:     "/var/lib/alloy",
			Mounts:          alloyMounts{Extra: []volumeMount{{Name: "storage", MountPath: "/var/lib/alloy"}}},
			Resources:       resourcesValues(s.AlloyResources),
			SecurityContext: alloySecurityContext{
				RunAsNonRoot:             true,
				RunAsUser:                473,
				RunAsGroup:               473,
				ReadOnlyRootFilesystem:   true,
				AllowPrivilegeEscalation: false,
				Capabilities:             capabilities{Drop: []string{"ALL"}},
				SeccompProfile:           seccompProfile{Type: "RuntimeDefault"},
			},
		},
	}
}
