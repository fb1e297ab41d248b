package platform

// The values of Bitnami postgresql chart 17.1.0 that we set (bitnamiValues).
type (
	bitnamiPostgresChart struct {
		FullnameOverride string         `json:"fullnameOverride"`
		Global           bitnamiGlobal  `json:"global"`
		Image            bitnamiImage   `json:"image"`
		Auth             bitnamiAuth    `json:"auth"`
		Primary          bitnamiPrimary `json:"primary"`
		Metrics          bitnamiMetrics `json:"metrics"`
	}
	bitnamiGlobal struct {
		Security bitnamiSecurity `json:"security"`
	}
	bitnamiSecurity struct {
		AllowInsecureImages bool `json:"allowInsecureImages"`
	}
	bitnamiImage struct {
		Registry   string `json:"registry"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
	}
	bitnamiAuth struct {
		Username       string             `json:"username"`
		Database       string             `json:"database"`
		ExistingSecret string             `json:"existingSecret"`
		SecretKeys     bitnamiAuthSecrets `json:"secretKeys"`
	}
	bitnamiAuthSecrets struct {
		AdminPasswordKey string `json:"adminPasswordKey"`
		UserPasswordKey  string `json:"userPasswordKey"`
	}
	bitnamiPrimary struct {
		Resources   helmResources      `json:"resources"`
		Persistence bitnamiPersistence `json:"persistence"`
		Initdb      bitnamiInitdb      `json:"initdb"`
		// ExtendedConfiguration is postgresql.conf text (serverParameters).
		ExtendedConfiguration string `json:"extendedConfiguration"`
	}
	bitnamiPersistence struct {
		Size         string `json:"size"`
		StorageClass string `json:"storageClass,omitempty"`
	}
	// bitnamiInitdb.Scripts maps file names to their contents: the chart
	// renders any name into its init ConfigMap.
	bitnamiInitdb struct {
		Scripts map[string]string `json:"scripts"`
	}
	bitnamiMetrics struct {
		Enabled        bool         `json:"enabled"`
		Image          bitnamiImage `json:"image"`
		ServiceMonitor enabled      `json:"serviceMonitor"`
	}
)

// The values of cloudnative-pg chart 0.29.0 that we set
// (cloudNativePGValues).
type (
	cloudNativePGChart struct {
		CRDs       create         `json:"crds"`
		Resources  helmResources  `json:"resources"`
		Monitoring cnpgMonitoring `json:"monitoring"`
	}
	cnpgMonitoring struct {
		PodMonitorEnabled bool `json:"podMonitorEnabled"`
	}
)

// The spec of the CloudNativePG Cluster we declare (cnpgClusterSpec), after
// the Cluster CRD shipped in chart 0.29.0 (operator 1.30.0). Not a chart,
// but built the same way so its keys are checked as well.
type (
	cnpgClusterSpecValues struct {
		Instances             int           `json:"instances"`
		ImageName             string        `json:"imageName"`
		EnableSuperuserAccess bool          `json:"enableSuperuserAccess"`
		Storage               cnpgStorage   `json:"storage"`
		Resources             helmResources `json:"resources"`
		Affinity              cnpgAffinity  `json:"affinity"`
		Bootstrap             cnpgBootstrap `json:"bootstrap"`
		// PostgreSQL.Parameters is the CRD's free-form map of strings
		// (postgresql.conf settings), typed here so that only the settings
		// we mean to set can be set.
		PostgreSQL cnpgPostgreSQL `json:"postgresql"`
	}
	cnpgPostgreSQL struct {
		Parameters cnpgParameters `json:"parameters"`
	}
	cnpgParameters struct {
		MaxConnections string `json:"max_connections"`
	}
	cnpgStorage struct {
		Size         string `json:"size"`
		StorageClass string `json:"storageClass,omitempty"`
	}
	cnpgAffinity struct {
		EnablePodAntiAffinity bool   `json:"enablePodAntiAffinity"`
		TopologyKey           string `json:"topologyKey"`
	}
	cnpgBootstrap struct {
		Initdb cnpgInitdb `json:"initdb"`
	}
	cnpgInitdb struct {
		Database               string        `json:"database"`
		Owner                  string        `json:"owner"`
		Secret                 cnpgSecretRef `json:"secret"`
		PostInitApplicationSQL []string      `json:"postInitApplicationSQL"`
	}
	cnpgSecretRef struct {
		Name string `json:"name"`
	}
)
