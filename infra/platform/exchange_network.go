package platform

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// namespaceLabel is set by Kubernetes on every namespace (1.22+), so a
// policy can name a namespace without us labelling it.
const namespaceLabel = "kubernetes.io/metadata.name"

// networkPolicies deny everything in the exchange namespace, then allow:
// the ingress controller to the server's public port, Prometheus to its
// internal port (metrics), server pods to each other on the internal port
// (followers forward sequencer commands to the leader there), and every
// exchange pod to PostgreSQL and DNS. Nobody but the controller needs the
// public port, and the controller must never reach the internal one.
// Backup pods get S3 from BackupJobs.
func (a *ExchangeApp) networkPolicies(ctx *pulumi.Context, args *ExchangeAppArgs) error {
	db := args.Database
	policies := []struct {
		name string
		spec *networkingv1.NetworkPolicySpecArgs
	}{
		{"default-deny", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		}},
		{"exchange-server-ingress", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: appLabels(serverLabel)},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{namespacePeer(args.IngressNamespace, args.IngressPodLabels)},
					Ports: tcpPorts(httpPort),
				},
				networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{namespacePeer(args.MonitoringNamespace, args.PrometheusPodLabels)},
					Ports: tcpPorts(internalPort),
				},
				networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{serverPeer()},
					Ports: tcpPorts(internalPort),
				},
			},
		}},
		{"exchange-server-peer-egress", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: appLabels(serverLabel)},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{networkingv1.NetworkPolicyEgressRuleArgs{
				To:    networkingv1.NetworkPolicyPeerArray{serverPeer()},
				Ports: tcpPorts(internalPort),
			}},
		}},
		{"exchange-database-egress", &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(appName)}},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				networkingv1.NetworkPolicyEgressRuleArgs{
					To:    networkingv1.NetworkPolicyPeerArray{namespacePeer(db.Namespace, db.PodLabels)},
					Ports: tcpPorts(db.Port),
				},
				dnsEgress(),
			},
		}},
	}
	for _, p := range policies {
		if _, err := networkingv1.NewNetworkPolicy(ctx, p.name, &networkingv1.NetworkPolicyArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(p.name), Namespace: a.Namespace},
			Spec:     p.spec,
		}, pulumi.Parent(a)); err != nil {
			return fmt.Errorf("network policy %s: %w", p.name, err)
		}
	}
	return nil
}

// namespacePeer selects pods (all, or those with podLabels) in a namespace.
func namespacePeer(namespace string, podLabels map[string]string) networkingv1.NetworkPolicyPeerArgs {
	peer := networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{namespaceLabel: pulumi.String(namespace)}},
	}
	if podLabels != nil {
		peer.PodSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(podLabels)}
	}
	return peer
}

// serverPeer selects the exchange server pods of the policy's own namespace
// (a peer with only a podSelector never matches another namespace).
func serverPeer() networkingv1.NetworkPolicyPeerArgs {
	return networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: appLabels(serverLabel)}}
}

func tcpPorts(ports ...int) networkingv1.NetworkPolicyPortArray {
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range ports {
		out = append(out, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
	}
	return out
}

// dnsEgress allows name resolution wherever the cluster DNS runs (CoreDNS
// Pods, or a node-local cache on a host address).
func dnsEgress() networkingv1.NetworkPolicyEgressRuleArgs {
	return networkingv1.NetworkPolicyEgressRuleArgs{Ports: networkingv1.NetworkPolicyPortArray{
		networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
		networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(53)},
	}}
}
