// Package pipeline holds the tests of the delivery pipeline: the GitHub
// Actions workflows (.github/workflows), Dependabot, the GitLab CI/CD
// alternative (.gitlab-ci.yml) and the scripts they share (scripts/ci). The
// tests parse those files and check the structure that matters: tests gate
// deploys, pull requests get previews, only main deploys, prod waits for a
// reviewer after dev, images are tagged with the commit SHA, permissions are
// least-privilege and third-party actions are pinned to commit SHAs. The
// syntax itself is actionlint's job (scripts/ci/actionlint.sh).
//
// See docs/delivery.md.
package pipeline
