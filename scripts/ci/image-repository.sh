#!/bin/sh
# Chooses the registry and image repository the pipeline pushes to and
# deploys from, and prints them as `key=value` lines (for $GITHUB_OUTPUT or a
# dotenv file):
#   registry=<host>            the registry to log in to
#   repository=<host>/<path>   the image, without a tag
#
# Docker Hub when both DOCKERHUB_USERNAME and DOCKERHUB_TOKEN are set (the
# seed's secrets); otherwise the CI system's own registry, which needs no
# extra secret: ghcr.io/<owner>/<repo> on GitHub, $CI_REGISTRY_IMAGE on
# GitLab. IMAGE_REPOSITORY overrides the path (it must be on the chosen
# registry); without it Docker Hub gets docker.io/<owner>/<repo>, the
# names lowercased as registries require.
#
# Nothing printed here is secret: a GitHub job output that contains a secret
# is dropped, so the Docker Hub user name never goes into the image name.
# POSIX sh: GitLab's build job runs it in an image without bash.
set -eu

lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

if [ -n "${GITHUB_REPOSITORY:-}" ]; then
  project=$(lower "$GITHUB_REPOSITORY")
  own_registry=ghcr.io
  own_repository=ghcr.io/$project
elif [ -n "${CI_REGISTRY_IMAGE:-}" ]; then
  project=$(lower "${CI_PROJECT_PATH:?CI_PROJECT_PATH is not set}")
  own_registry=${CI_REGISTRY:?CI_REGISTRY is not set}
  own_repository=$CI_REGISTRY_IMAGE
else
  echo "image-repository.sh: neither GITHUB_REPOSITORY (GitHub Actions) nor CI_REGISTRY_IMAGE (GitLab CI) is set" >&2
  exit 2
fi

if [ -n "${DOCKERHUB_USERNAME:-}" ] && [ -n "${DOCKERHUB_TOKEN:-}" ]; then
  registry=docker.io
  repository=${IMAGE_REPOSITORY:-docker.io/$project}
elif [ -n "${DOCKERHUB_USERNAME:-}" ] || [ -n "${DOCKERHUB_TOKEN:-}" ]; then
  echo "image-repository.sh: set both DOCKERHUB_USERNAME and DOCKERHUB_TOKEN to push to Docker Hub, or neither to use $own_registry" >&2
  exit 2
else
  registry=$own_registry
  repository=${IMAGE_REPOSITORY:-$own_repository}
fi

repository=$(lower "$repository")
case $repository in
  "$registry"/?*) ;;
  *)
    echo "image-repository.sh: IMAGE_REPOSITORY $repository is not on the registry the pipeline logs in to ($registry)" >&2
    exit 2
    ;;
esac
printf 'registry=%s\nrepository=%s\n' "$registry" "$repository"
