# shellcheck shell=bash
# shellcheck disable=SC2034 # the scripts that source this use them
# Pinned versions of the end-to-end test's tools and where they are cached.
# Sourced by the other scripts in this directory; nothing here builds.
#
# Each tool is built once from the Go module proxy into
#   $E2E_CACHE/<tool>-<version>/
# (outside the repository) and reused while that directory is complete.

PULUMI_VERSION=v3.274.1
# pulumi-kubernetes' provider module is served only as this pseudo-version,
# which is the v4.25.0 release (the infra program pins sdk v4.25.0 to match).
K8S_PROVIDER_VERSION=4.25.0
K8S_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199
KUBERNETES_VERSION=v1.35.4
# The node's kubelet and kube-proxy are the control plane's version
# (KUBERNETES_VERSION, built from the same module in a separate cache
# directory). CoreDNS v1.14.7: the newest release built against client-go
# v0.35.4, the control plane's own version, so the API it watches
# (EndpointSlices, Services) is the one served here and its k8s.io
# packages are the ones the Go build cache already holds from the kubelet.
COREDNS_VERSION=v1.14.7
# The NetworkPolicy enforcer beside the bridge CNI: kube-router's network
# policy controller alone (iptables and ipset). v2.1.0 is the only version
# the module proxy serves; its advisory GHSA-phqm-jgc3-qf8g is in the
# service proxy, which is not run. kube-network-policies (SIG Network) was
# tried first: it needs nftables' queue expression, which this kernel is
# built without (CONFIG_NFT_QUEUE unset; its rules fail with ENOENT).
KUBE_ROUTER_VERSION=v2.1.0

E2E_CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/exchange-e2e}

PULUMI_DIR=$E2E_CACHE/pulumi-$PULUMI_VERSION
K8S_PROVIDER_DIR=$E2E_CACHE/pulumi-resource-kubernetes-$K8S_PROVIDER_VERSION
KUBERNETES_DIR=$E2E_CACHE/kubernetes-$KUBERNETES_VERSION
NODE_DIR=$E2E_CACHE/kubernetes-node-$KUBERNETES_VERSION
COREDNS_DIR=$E2E_CACHE/coredns-$COREDNS_VERSION
KUBE_ROUTER_DIR=$E2E_CACHE/kube-router-$KUBE_ROUTER_VERSION
