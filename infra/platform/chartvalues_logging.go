package platform

// The values of grafana-community loki chart 18.11.0 that we set
// (lokiValues). Under loki:, limits_config and compactor are passed through
// to Loki 3.7.6's own configuration by the chart's loki.config template.
type (
	lokiChart struct {
		DeploymentMode string           `json:"deploymentMode"`
		Loki           lokiConfig       `json:"loki"`
		SingleBinary   lokiSingleBinary `json:"singleBinary"`
		Read           replicaCount     `json:"read"`
		Write          replicaCount     `json:"write"`
		Backend        replicaCount     `json:"backend"`
		ChunksCache    enabled          `json:"chunksCache"`
		ResultsCache   enabled          `json:"resultsCache"`
		LokiCanary     enabled          `json:"lokiCanary"`
		Test           enabled          `json:"test"`
		Gateway        enabled          `json:"gateway"`
	}
	lokiConfig struct {
		AuthEnabled  bool             `json:"auth_enabled"`
		CommonConfig lokiCommon       `json:"commonConfig"`
		Storage      lokiStorage      `json:"storage"`
		SchemaConfig lokiSchemaConfig `json:"schemaConfig"`
		LimitsConfig lokiLimits       `json:"limits_config"`
		Compactor    lokiCompactor    `json:"compactor"`
		Analytics    lokiAnalytics    `json:"analytics"`
	}
	// lokiAnalytics is Loki's usage reporting (analytics.Config in
	// pkg/analytics of Loki v3.7.6), on by default.
	lokiAnalytics struct {
		ReportingEnabled bool `json:"reporting_enabled"`
	}
	lokiCommon struct {
		ReplicationFactor int `json:"replication_factor"`
	}
	lokiStorage struct {
		Type string `json:"type"`
	}
	lokiSchemaConfig struct {
		Configs []lokiSchema `json:"configs"`
	}
	lokiSchema struct {
		From        string    `json:"from"`
		Store       string    `json:"store"`
		ObjectStore string    `json:"object_store"`
		Schema      string    `json:"schema"`
		Index       lokiIndex `json:"index"`
	}
	lokiIndex struct {
		Prefix string `json:"prefix"`
		Period string `json:"period"`
	}
	lokiLimits struct {
		RetentionPeriod string `json:"retention_period"`
	}
	lokiCompactor struct {
		RetentionEnabled   bool   `json:"retention_enabled"`
		DeleteRequestStore string `json:"delete_request_store"`
	}
	lokiSingleBinary struct {
		Replicas    int             `json:"replicas"`
		Resources   helmResources   `json:"resources"`
		Persistence lokiPersistence `json:"persistence"`
	}
	lokiPersistence struct {
		Size string `json:"size"`
	}
)

// The values of grafana/alloy chart 1.11.1 that we set (alloyValues).
type (
	alloyChart struct {
		CRDs       create          `json:"crds"`
		Controller alloyController `json:"controller"`
		RBAC       alloyRBACValues `json:"rbac"`
		Alloy      alloySettings   `json:"alloy"`
	}
	alloyController struct {
		Type     string       `json:"type"`
		Replicas int          `json:"replicas"`
		Volumes  alloyVolumes `json:"volumes"`
	}
	alloyVolumes struct {
		Extra []emptyDirVolume `json:"extra"`
	}
	emptyDirVolume struct {
		Name     string   `json:"name"`
		EmptyDir struct{} `json:"emptyDir"`
	}
	// alloyRBACValues: templates/rbac.yaml puts rules and clusterRules, one
	// after the other, into the one ClusterRole (rbac.namespaces is empty).
	alloyRBACValues struct {
		Rules        []policyRule `json:"rules"`
		ClusterRules []policyRule `json:"clusterRules"`
	}
	policyRule struct {
		APIGroups []string `json:"apiGroups"`
		Resources []string `json:"resources"`
		Verbs     []string `json:"verbs"`
	}
	alloySettings struct {
		ConfigMap       alloyConfigMap       `json:"configMap"`
		EnableReporting bool                 `json:"enableReporting"`
		StoragePath     string               `json:"storagePath"`
		Mounts          alloyMounts          `json:"mounts"`
		Resources       helmResources        `json:"resources"`
		SecurityContext alloySecurityContext `json:"securityContext"`
	}
	alloyConfigMap struct {
		Content string `json:"content"`
	}
	alloyMounts struct {
		Extra []volumeMount `json:"extra"`
	}
	volumeMount struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	}
	// alloySecurityContext is the container's securityContext, toYaml'd by
	// templates/containers/_agent.yaml.
	alloySecurityContext struct {
		RunAsNonRoot             bool           `json:"runAsNonRoot"`
		RunAsUser                int            `json:"runAsUser"`
		RunAsGroup               int            `json:"runAsGroup"`
		ReadOnlyRootFilesystem   bool           `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation bool           `json:"allowPrivilegeEscalation"`
		Capabilities             capabilities   `json:"capabilities"`
		SeccompProfile           seccompProfile `json:"seccompProfile"`
	}
	capabilities struct {
		Drop []string `json:"drop"`
	}
	seccompProfile struct {
		Type string `json:"type"`
	}
)
