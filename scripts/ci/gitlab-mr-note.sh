#!/usr/bin/env bash
# Posts a `pulumi preview` output as a note on the merge request of this
# GitLab pipeline, the GitLab counterpart of pulumi/actions' comment-on-pr.
#
#   scripts/ci/gitlab-mr-note.sh STACK PREVIEW_FILE
#
# Needs GITLAB_API_TOKEN (a project access token with the api scope; the job
# token may not write notes). Without it the preview stays a job artifact
# only, and this says so and succeeds.
set -euo pipefail

stack=${1:?usage: gitlab-mr-note.sh STACK PREVIEW_FILE}
file=${2:?usage: gitlab-mr-note.sh STACK PREVIEW_FILE}
if [ -z "${GITLAB_API_TOKEN:-}" ]; then
  echo "GITLAB_API_TOKEN is not set: the preview of $stack is in the job's artifacts only" >&2
  exit 0
fi
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_MERGE_REQUEST_IID:?not a merge request pipeline}"

# GitLab takes notes up to 1,000,000 characters; keep the end of a long
# preview, where the summary is.
max=60000
note=$(mktemp)
{
  # shellcheck disable=SC2016 # the backquotes are Markdown
  printf '#### `pulumi preview` of stack `%s` at %s\n\n' "$stack" "${CI_COMMIT_SHORT_SHA:-}"
  printf '[Job log](%s)\n\n<details><summary>Pulumi report</summary>\n\n```\n' "${CI_JOB_URL:-}"
  if [ "$(wc -c <"$file")" -gt "$max" ]; then
    printf '... (the first part is cut; the whole preview is in the job artifacts)\n'
    tail -c "$max" "$file"
  else
    cat "$file"
  fi
  printf '\n```\n\n</details>\n'
} >"$note"
curl --fail-with-body -sS -o /dev/null -X POST \
  -H "PRIVATE-TOKEN: $GITLAB_API_TOKEN" \
  --data-urlencode "body@$note" \
  "$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"
echo "posted the preview of $stack on merge request !$CI_MERGE_REQUEST_IID" >&2
