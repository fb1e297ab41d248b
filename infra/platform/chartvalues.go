package platform

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// Chart values are small typed structs (chartvalues_*.go) whose json tags
// are the chart's keys, so a misspelt key is a compile error where it is set
// rather than a value the chart silently ignores. Only the keys we set are
// declared; Helm keeps the chart's defaults for the rest. A field that must
// reach the chart even when it is false or 0 (a switch turned off) has no
// omitempty; an optional block is a pointer with omitempty.

// toPulumiMap renders typed chart values as the map helm/v4 Chart takes
// (and typed custom resource specs as UntypedArgs want them).
// The JSON round trip is what Helm does with values anyway (numbers become
// float64), so the chart sees exactly what a hand-written map gave it.
func toPulumiMap(v any) (pulumi.Map, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode chart values: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode chart values: %w", err)
	}
	return toInput(m).(pulumi.Map), nil
}

// helmResources is the container resources block every chart takes
// (toYaml'd into the pod spec).
type helmResources struct {
	Requests resourceQuantities `json:"requests"`
	Limits   resourceQuantities `json:"limits"`
}

type resourceQuantities struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

func resourcesValues(r settings.Resources) helmResources {
	return helmResources{
		Requests: resourceQuantities{CPU: r.Requests.CPU, Memory: r.Requests.Memory},
		Limits:   resourceQuantities{CPU: r.Limits.CPU, Memory: r.Limits.Memory},
	}
}

// Switches many charts share.
type (
	enabled struct {
		Enabled bool `json:"enabled"`
	}
	create struct {
		Create bool `json:"create"`
	}
	replicaCount struct {
		Replicas int `json:"replicas"`
	}
)
