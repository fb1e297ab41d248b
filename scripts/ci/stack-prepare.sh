#!/usr/bin/env bash
# Prepares the Pulumi stack STACK for one CI run (GitHub Actions or GitLab
# CI) and prints the path of the kubeconfig the run must use, the only thing
# on stdout; everything else goes to stderr. Its changes land in the working
# copy's Pulumi.<STACK>.yaml, for this run only: CI never commits them.
#
#   kubeconfig=$(scripts/ci/stack-prepare.sh dev) && export KUBECONFIG=$kubeconfig
#
# Needs the pulumi CLI, logged in to the stack's backend (PULUMI_ACCESS_TOKEN
# or PULUMI_BACKEND_URL), and reads these variables, each optional:
#
# The cluster, one of:
#   KUBECONFIG_B64     a kubeconfig file, base64-encoded (the seed's KUBECONFIG
#                      secret); written to a file only this user can read
#   EKS_CLUSTER_NAME   an EKS cluster, reached with the AWS credentials already
#                      in the environment (OIDC role); `aws eks update-kubeconfig`
#                      writes a kubeconfig that fetches short-lived tokens
#   KUBECONFIG         a kubeconfig path already there (a GitLab file variable)
# KUBE_CONTEXT         the kubeconfig context, when it is not the one the stack
#                      file names (kubernetes.context: minikube, exchange-prod)
# KUBECONFIG_DIR       where the kubeconfig is written (default $RUNNER_TEMP, or
#                      a new temporary directory)
#
# The stack's secrets, set with `pulumi config set --secret` when not empty
# (leave them empty when the stack keeps its own secrets, see
# docs/delivery.md):
#   APP_SECRET_KEY -> appSecretKey          (the seed's DJANGO_SECRET_KEY)
#   DB_PASSWORD -> dbPassword               (the seed's DB_PASSWORD)
#   DB_ADMIN_PASSWORD -> dbAdminPassword
#   GRAFANA_ADMIN_PASSWORD -> grafanaAdminPassword
#   ALERT_RECEIVER_SECRET -> alertReceiverSecret
#   BACKUP_ACCESS_KEY_ID -> backupAccessKeyId
#   BACKUP_SECRET_ACCESS_KEY -> backupSecretAccessKey
set -euo pipefail
cd "$(dirname "$0")/../.."

stack=${1:?usage: stack-prepare.sh STACK}
log() { printf 'stack-prepare %s: %s\n' "$stack" "$*" >&2; }

if [ -n "${KUBE_CONTEXT:-}" ]; then
  log "kubernetes.context = $KUBE_CONTEXT (KUBE_CONTEXT)"
  pulumi config set --path kubernetes.context "$KUBE_CONTEXT" -s "$stack" >&2
fi

dir=${KUBECONFIG_DIR:-${RUNNER_TEMP:-}}
if [ -z "$dir" ]; then
  dir=$(mktemp -d)
fi
if [ -n "${KUBECONFIG_B64:-}" ]; then
  kubeconfig=$dir/kubeconfig-$stack
  (umask 077 && printf '%s' "$KUBECONFIG_B64" | base64 -d >"$kubeconfig")
  log "kubeconfig from KUBECONFIG_B64"
elif [ -n "${EKS_CLUSTER_NAME:-}" ]; then
  kubeconfig=$dir/kubeconfig-$stack
  # The context is named as the stack expects it.
  context=$(pulumi config get --path kubernetes.context -s "$stack")
  (umask 077 && aws eks update-kubeconfig --name "$EKS_CLUSTER_NAME" \
    --alias "$context" --kubeconfig "$kubeconfig" >&2)
  log "kubeconfig for EKS cluster $EKS_CLUSTER_NAME"
elif [ -n "${KUBECONFIG:-}" ]; then
  kubeconfig=$KUBECONFIG
  log "kubeconfig from KUBECONFIG"
else
  log "no cluster credentials: set KUBECONFIG_B64 (the KUBECONFIG secret, base64), EKS_CLUSTER_NAME (with AWS credentials) or KUBECONFIG (a path)"
  exit 2
fi

secrets=(
  APP_SECRET_KEY:appSecretKey
  DB_PASSWORD:dbPassword
  DB_ADMIN_PASSWORD:dbAdminPassword
  GRAFANA_ADMIN_PASSWORD:grafanaAdminPassword
  ALERT_RECEIVER_SECRET:alertReceiverSecret
  BACKUP_ACCESS_KEY_ID:backupAccessKeyId
  BACKUP_SECRET_ACCESS_KEY:backupSecretAccessKey
)
for pair in "${secrets[@]}"; do
  var=${pair%%:*} key=${pair#*:}
  if [ -n "${!var:-}" ]; then
    # Through stdin, so the value never shows in a process listing.
    printf '%s' "${!var}" | pulumi config set --secret --raw -s "$stack" -- "$key" >&2
    log "secret $key set from $var"
  fi
done

printf '%s\n' "$kubeconfig"
