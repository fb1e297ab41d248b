#!/usr/bin/env bash
# Packs one static binary into a one-layer image, as a docker-archive tar
# that `ctr images import` reads (no registry is reachable here, and the
# node's images are assembled locally; docs/e2e.md "Images on the node").
#
# Usage: node-image.sh <out.tar> <name:tag> <user> <binary> [entrypoint arg...]
#   The binary lands at /<its file name>, the entrypoint is that path
#   followed by the args; <user> is a numeric uid[:gid] (no /etc/passwd).
#
# The layer is reproducible (sorted, owner 0, mtime 0), so the same binary
# gives the same image ID.
set -euo pipefail

[ $# -ge 4 ] || { echo "usage: $0 <out.tar> <name:tag> <user> <binary> [arg...]" >&2; exit 2; }
out=$1 ref=$2 user=$3 bin=$4
shift 4
[ -x "$bin" ] || { echo "node-image.sh: $bin is not an executable file" >&2; exit 1; }
case $user in *[!0-9:]* | "") echo "node-image.sh: user must be numeric uid[:gid], got $user" >&2; exit 1 ;; esac
for a in "$ref" "$@"; do
  # The JSON below is written by hand: refuse what would need escaping.
  case $a in *[\"\\]* ) echo "node-image.sh: quote or backslash in $a" >&2; exit 1 ;; esac
done
arch=$(go env GOARCH 2>/dev/null || echo amd64)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs" "$work/archive"
name=${bin##*/}
install -m 0755 "$bin" "$work/rootfs/$name"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work/rootfs" -cf "$work/layer.tar" "$name"
layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir -p "$work/archive/$layer"
mv "$work/layer.tar" "$work/archive/$layer/layer.tar"

entry="\"/$name\""
for a in "$@"; do entry+=", \"$a\""; done
cat >"$work/config.json" <<EOF
{"architecture":"$arch","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"User":"$user","Entrypoint":[$entry],"Env":["PATH=/"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$layer"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/e2e/node-image.sh $name"}]}
EOF
config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/archive/$config.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$config" "$ref" "$layer" \
  >"$work/archive/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/archive" -cf "$out" \
  manifest.json "$config.json" "$layer"
echo "$ref sha256:$config $(du -k "$out" | cut -f1) KiB"
