package platform

import (
	"fmt"
	"strings"

	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// newChart declares a Helm chart with the helm/v4 Chart resource: Pulumi
// renders it client-side and owns every object, so a preview shows a
// per-object diff. Helm hooks are not run by this resource, which is why each
// caller switches off the chart features that rely on hooks. values is the
// chart's typed values struct (chartvalues_*.go).
func newChart(ctx *pulumi.Context, name string, ref settings.ChartRef, namespace pulumi.StringInput,
	values any, opts ...pulumi.ResourceOption) (*helmv4.Chart, error) {
	rendered, err := toPulumiMap(values)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", ref.Name, ref.Version, err)
	}
	args := &helmv4.ChartArgs{
		// The release name is fixed so object names (and the Services other
		// components dial) do not depend on the Pulumi resource name.
		Name:      pulumi.String(name),
		Namespace: namespace,
		Version:   pulumi.String(ref.Version),
		Values:    rendered,
	}
	if strings.HasPrefix(ref.Repo, "oci://") {
		args.Chart = pulumi.String(strings.TrimSuffix(ref.Repo, "/") + "/" + ref.Name)
	} else {
		args.Chart = pulumi.String(ref.Name)
		args.RepositoryOpts = &helmv4.RepositoryOptsArgs{Repo: pulumi.String(ref.Repo)}
	}
	chart, err := helmv4.NewChart(ctx, name, args, opts...)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", ref.Name, ref.Version, err)
	}
	return chart, nil
}

// dependsOnChart waits for every object a Chart rendered. Depending on the
// Chart resource alone would not wait for its children, which is what a
// ServiceMonitor needs from the CRD chart.
func dependsOnChart(c *helmv4.Chart) pulumi.ResourceOrInvokeOption {
	return pulumi.DependsOnInputs(chartResources(c))
}

func chartResources(c *helmv4.Chart) pulumi.ResourceArrayOutput {
	return c.Resources.ApplyT(func(items []any) []pulumi.Resource {
		out := make([]pulumi.Resource, 0, len(items))
		for _, it := range items {
			if r, ok := it.(pulumi.Resource); ok {
				out = append(out, r)
			}
		}
		return out
	}).(pulumi.ResourceArrayOutput)
}
