# shellcheck shell=bash disable=SC2034 source-path=SCRIPTDIR
# Pinned versions of what builds the end-to-end test's images
# (scripts/e2e/images.sh) and where it is cached. Sourced; nothing here
# builds. The base images' own versions are not pinned here: images.sh reads
# them from the Dockerfile's FROM lines (and the Go version from go.work), so
# the locally assembled bases carry exactly the names the Dockerfile uses.

# E2E_CACHE and the other tools' versions.
# shellcheck source=versions.sh
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

# BuildKit v0.34.2: the release whose Dockerfile parser and linter
# service/go.mod pins for the Dockerfile test, and the one the GitLab build
# job runs (moby/buildkit:v0.34.2-rootless), so the builder here, the test's
# parser and GitLab's builder are one version. Its go.mod asks for Go
# 1.26.8, which is go.work's.
BUILDKIT_VERSION=v0.34.2

# The Dockerfile's `# syntax=docker/dockerfile:1.7` makes BuildKit run the
# frontend image docker/dockerfile:1.7, i.e. the newest 1.7.x: 1.7.1 (1.8.0
# followed). The tag dockerfile/1.7.1 of github.com/moby/buildkit is commit
# 2e18d709fefdcc2db20853ee241c75b058189d39, which is also the tag v0.13.2
# (read in a snapshot of the repository), so the module version v0.13.2 is
# exactly that frontend's source.
DOCKERFILE_FRONTEND_VERSION=1.7.1
DOCKERFILE_FRONTEND_MODULE_VERSION=v0.13.2
DOCKERFILE_FRONTEND_REVISION=2e18d709fefdcc2db20853ee241c75b058189d39

BUILDKIT_DIR=$E2E_CACHE/buildkit-$BUILDKIT_VERSION
DOCKERFILE_FRONTEND_DIR=$E2E_CACHE/dockerfile-frontend-$DOCKERFILE_FRONTEND_VERSION

# Root file systems of the base images, one tar per suite, archive date and
# package list (see images.sh), and the builder's persistent state: the
# containerd root (content store, snapshots, images) and BuildKit's root (its
# cache metadata, and with them the Dockerfile's Go module and build cache
# mounts), kept between runs so a warm build recompiles nothing.
IMAGES_CACHE=$E2E_CACHE/images
