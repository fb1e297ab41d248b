package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const mainOnly = "github.ref == 'refs/heads/main'"

// Every workflow asks for nothing at the top and each job lists only the
// scopes it needs; a write scope appears only on a job that uses it.
func TestPermissionsAreLeastPrivilege(t *testing.T) {
	for _, name := range workflowFiles(t) {
		w := loadWorkflow(t, name)
		top, set, err := permissions(w.Permissions)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !set {
			t.Errorf("%s: no workflow-level permissions: the token would get the repository's default scopes", name)
		}
		for scope, level := range top {
			if level != "read" && level != "none" {
				t.Errorf("%s: workflow-level permissions give %s: %s; writes belong on the job that needs them", name, scope, level)
			}
		}
		for _, j := range w.jobsSorted() {
			perms, set, err := permissions(j.Permissions)
			if err != nil {
				t.Errorf("%s: job %s: %v", name, j.id, err)
			}
			if !set {
				t.Errorf("%s: job %s sets no permissions", name, j.id)
			}
			for scope, level := range perms {
				if level != "write" {
					continue
				}
				if why := writeNeeded(j, scope); why != "" {
					t.Errorf("%s: job %s has %s: write but %s", name, j.id, scope, why)
				}
			}
		}
	}
}

// writeNeeded returns "" when job j uses the write scope it asks for, or
// what is missing.
func writeNeeded(j *job, scope string) string {
	switch scope {
	case "id-token":
		if len(j.stepsUsing("aws-actions/configure-aws-credentials")) == 0 {
			return "assumes no cloud role (aws-actions/configure-aws-credentials)"
		}
	case "pull-requests":
		for _, s := range j.stepsUsing("pulumi/actions") {
			if s.with("comment-on-pr") == "true" {
				return ""
			}
		}
		return "comments on no pull request (pulumi/actions comment-on-pr)"
	case "packages":
		for _, s := range j.stepsUsing("docker/login-action") {
			if s.with("registry") == "ghcr.io" {
				return ""
			}
		}
		return "logs in to no GitHub registry (docker/login-action to ghcr.io)"
	default:
		return "no job here needs it"
	}
	return ""
}

var (
	usesLine = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)(.*)$`)
	shaPin   = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	version  = regexp.MustCompile(`^\s+#\s+(v\d+\.\d+\.\d+)\s*$`)
)

// Third-party actions run with the job's token and secrets, and a tag can
// be moved to other code: each is pinned to a full commit SHA, with the
// release it is as a comment (Dependabot keeps both up to date), and one
// action is at one commit everywhere.
func TestActionsArePinnedToCommits(t *testing.T) {
	pins := map[string]string{}
	seen := 0
	for _, name := range workflowFiles(t) {
		for i, line := range strings.Split(readFile(t, ".github", "workflows", name), "\n") {
			m := usesLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			seen++
			ref, rest := strings.Trim(m[1], `"'`), m[2]
			where := fmt.Sprintf("%s:%d: %s", name, i+1, ref)
			if strings.HasPrefix(ref, "./") {
				continue // this repository's own reusable workflow or action
			}
			if strings.HasPrefix(ref, "docker://") {
				t.Errorf("%s: run actions from repositories pinned to a commit, not container images", where)
				continue
			}
			if !shaPin.MatchString(ref) {
				t.Errorf("%s: not pinned to a full commit SHA", where)
				continue
			}
			v := version.FindStringSubmatch(rest)
			if v == nil {
				t.Errorf("%s: no `# vX.Y.Z` comment naming the release of that commit", where)
				continue
			}
			pin := ref + " " + v[1]
			if prev, ok := pins[actionName(ref)]; ok && prev != pin {
				t.Errorf("%s %s: the same action is pinned elsewhere to %s", where, v[1], prev)
			}
			pins[actionName(ref)] = pin
		}
	}
	if seen == 0 {
		t.Fatal("no uses: lines found; the workflow files were not read")
	}
}

// pull_request_target and workflow_run run with the base repository's
// secrets on code a pull request controls; nothing here needs them.
func TestNoPrivilegedTriggers(t *testing.T) {
	for _, name := range workflowFiles(t) {
		w := loadWorkflow(t, name)
		for _, ev := range []string{"pull_request_target", "workflow_run"} {
			if _, ok := w.On[ev]; ok {
				t.Errorf("%s runs on %s", name, ev)
			}
		}
	}
}

// CI: every pull request runs the checks, and deploy.yml calls the same
// workflow, so main is tested before anything ships.
func TestCIWorkflow(t *testing.T) {
	w := loadWorkflow(t, "ci.yml")
	for _, ev := range []string{"pull_request", "push", "workflow_call"} {
		if _, ok := w.On[ev]; !ok {
			t.Errorf("ci.yml does not run on %s", ev)
		}
	}
	// main is tested through deploy.yml's call; a push trigger on main too
	// would test every commit twice.
	if push, _ := w.On["push"].(map[string]any); fmt.Sprint(push["branches-ignore"]) != "[main]" {
		t.Errorf("ci.yml push trigger %v: want every branch but main", w.On["push"])
	}
	if w.Concurrency == nil || w.Concurrency.CancelInProgress != "${{ github.ref != 'refs/heads/main' }}" {
		t.Error("ci.yml: a newer push must cancel an older run of its pull request or branch, and never a run on main")
	}

	var all []string
	for _, j := range w.jobsSorted() {
		for _, s := range j.Steps {
			all = append(all, s.Run)
		}
	}
	run := strings.Join(all, "\n")
	for _, want := range []string{
		"gofmt -l infra service", "go vet ./infra/... ./service/...",
		"honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}", "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}",
		"scripts/ci/actionlint.sh", "./scripts/test.sh",
	} {
		if !strings.Contains(run, want) {
			t.Errorf("ci.yml runs no %q", want)
		}
	}
	for _, v := range []string{"STATICCHECK_VERSION", "GOVULNCHECK_VERSION"} {
		if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(w.Env[v]) {
			t.Errorf("ci.yml: %s = %q, want a pinned version", v, w.Env[v])
		}
	}

	// The test job: PostgreSQL as a service, DATABASE_URL pointing at it,
	// and a pg_dump of the server's major first on PATH.
	test := w.Jobs["test"]
	if test == nil {
		t.Fatal("ci.yml has no test job")
	}
	pg, ok := test.Services["postgres"]
	if !ok {
		t.Fatal("ci.yml test job has no postgres service")
	}
	major := imageMajor(t, "ci.yml postgres service", pg.Image)
	if want := platformPGMajor(t); major != want {
		t.Errorf("ci.yml tests against PostgreSQL %s, the platform deploys %s", major, want)
	}
	url := test.Env["DATABASE_URL"]
	if !strings.HasPrefix(url, "postgres://"+pg.Env["POSTGRES_USER"]+":"+pg.Env["POSTGRES_PASSWORD"]+"@localhost:5432/"+pg.Env["POSTGRES_DB"]) {
		t.Errorf("ci.yml DATABASE_URL %q does not reach the postgres service as its user", url)
	}
	client := test.runIndex("postgresql-client-"+major, "/usr/lib/postgresql/"+major+"/bin", "GITHUB_PATH")
	tests := test.runIndex("./scripts/test.sh")
	if client < 0 || tests < 0 || client > tests {
		t.Errorf("ci.yml test job must put the PostgreSQL %s client tools on PATH before ./scripts/test.sh", major)
	}

	// The image is built on every pull request but never pushed from here.
	img := w.Jobs["image"]
	if img == nil {
		t.Fatal("ci.yml has no image job")
	}
	builds := img.stepsUsing("docker/build-push-action")
	if len(builds) != 1 || builds[0].with("push") != "false" {
		t.Error("ci.yml image job must build the image once with push: false")
	}
	if img.runIndex("200000000") < 0 {
		t.Error("ci.yml image job does not check the 200 MB size target")
	}
}

// Preview: every pull request gets a `pulumi preview` of dev and prod as a
// comment, with the rights to write it, and a newer push cancels the older
// preview.
func TestPreviewWorkflow(t *testing.T) {
	w := loadWorkflow(t, "preview.yml")
	if got := w.triggers(); !slices.Equal(got, []string{"pull_request"}) {
		t.Errorf("preview.yml runs on %v, want pull_request only", got)
	}
	if w.Concurrency == nil || !strings.Contains(w.Concurrency.Group, "github.event.pull_request.number") || w.Concurrency.CancelInProgress != true {
		t.Error("preview.yml: concurrency must group by pull request and cancel the older run")
	}

	stacks := map[string]bool{}
	for _, j := range w.jobsSorted() {
		for _, s := range j.stepsUsing("pulumi/actions") {
			if s.with("command") != "preview" {
				if s.with("command") != "" {
					t.Errorf("preview.yml job %s runs pulumi %s; previews only", j.id, s.with("command"))
				}
				continue
			}
			if s.with("comment-on-pr") != "true" {
				t.Errorf("preview.yml job %s: pulumi preview without comment-on-pr: true", j.id)
			}
			perms, _, _ := permissions(j.Permissions)
			if perms["pull-requests"] != "write" {
				t.Errorf("preview.yml job %s comments without pull-requests: write", j.id)
			}
			if !strings.Contains(j.If, "github.event.pull_request.head.repo.full_name == github.repository") {
				t.Errorf("preview.yml job %s must skip pull requests from forks (they get no secrets)", j.id)
			}
			var names []string
			if s.with("stack-name") == "${{ matrix.stack }}" {
				names = j.matrixValues("stack")
				if j.Environment != "${{ matrix.stack }}-preview" {
					t.Errorf("preview.yml job %s: environment %v, want ${{ matrix.stack }}-preview (read-only credentials)", j.id, j.Environment)
				}
			} else {
				names = []string{s.with("stack-name")}
			}
			// The preview shows the image deploy.yml would ship.
			tag := j.runIndex(`pulumi config set --path app.image.tag "$IMAGE_TAG"`)
			if tag < 0 || tag > stepIndex(j, s) {
				t.Errorf("preview.yml job %s does not set app.image.tag before the preview", j.id)
			} else if j.Steps[tag].Env["IMAGE_TAG"] != "${{ github.event.pull_request.head.sha }}" {
				t.Errorf("preview.yml job %s: IMAGE_TAG = %q, want the pull request's head commit", j.id, j.Steps[tag].Env["IMAGE_TAG"])
			}
			for _, n := range names {
				stacks[n] = true
			}
		}
	}
	for _, want := range []string{"dev", "prod"} {
		if !stacks[want] {
			t.Errorf("preview.yml previews no %s stack", want)
		}
	}
}

// Deploy: only main (a push to it, or a manual run on it); the tests first,
// then the image tagged with the commit SHA, then dev with that tag, then
// prod in its environment after dev.
func TestDeployWorkflow(t *testing.T) {
	w := loadWorkflow(t, "deploy.yml")
	if got := w.triggers(); !slices.Equal(got, []string{"push", "workflow_dispatch"}) {
		t.Errorf("deploy.yml runs on %v, want push and workflow_dispatch", got)
	}
	push, _ := w.On["push"].(map[string]any)
	if len(push) != 1 || fmt.Sprint(push["branches"]) != "[main]" {
		t.Errorf("deploy.yml: on.push = %v, want branches: [main] and nothing else", w.On["push"])
	}
	// workflow_dispatch may be started on any branch: every job checks.
	for _, j := range w.jobsSorted() {
		if j.If != mainOnly {
			t.Errorf("deploy.yml job %s: if = %q, want %q", j.id, j.If, mainOnly)
		}
	}

	var tests *job
	for _, j := range w.jobsSorted() {
		if j.Uses == "./.github/workflows/ci.yml" {
			tests = j
		}
	}
	if tests == nil {
		t.Fatal("deploy.yml does not run the tests (uses: ./.github/workflows/ci.yml)")
	}

	img := w.Jobs["image"]
	if img == nil {
		t.Fatal("deploy.yml has no image job")
	}
	if !w.dependsOn("image", tests.id) {
		t.Errorf("deploy.yml: the image is pushed before the tests (%s) pass", tests.id)
	}
	if img.Outputs["tag"] != "${{ github.sha }}" {
		t.Errorf("deploy.yml image job outputs tag %q, want ${{ github.sha }}", img.Outputs["tag"])
	}
	metas := img.stepsUsing("docker/metadata-action")
	if len(metas) != 1 {
		t.Fatal("deploy.yml image job: want one docker/metadata-action step")
	}
	meta := metas[0]
	if tags := strings.TrimSpace(meta.with("tags")); tags != "type=sha,format=long,prefix=" {
		t.Errorf("deploy.yml image tags %q, want only the full commit SHA (type=sha,format=long,prefix=)", tags)
	}
	if !strings.Contains(meta.with("flavor"), "latest=false") {
		t.Error("deploy.yml image: no latest tag (flavor latest=false)")
	}
	builds := img.stepsUsing("docker/build-push-action")
	if len(builds) != 1 {
		t.Fatal("deploy.yml image job: want one docker/build-push-action step")
	}
	b := builds[0]
	if b.with("push") != "true" || b.with("tags") != "${{ steps."+meta.ID+".outputs.tags }}" {
		t.Errorf("deploy.yml image build must push the metadata tags (push %q, tags %q)", b.with("push"), b.with("tags"))
	}
	if b.with("build-args") != "VERSION=${{ github.sha }}" {
		t.Errorf("deploy.yml image build-args %q, want VERSION=${{ github.sha }} (the version stamped in the binary)", b.with("build-args"))
	}
	if len(img.stepsUsing("docker/login-action")) == 0 {
		t.Error("deploy.yml image job logs in to no registry")
	}

	ups := map[string]*job{}
	for _, j := range w.jobsSorted() {
		for _, s := range j.stepsUsing("pulumi/actions") {
			switch s.with("command") {
			case "up":
				ups[s.with("stack-name")] = j
				checkUpJob(t, w, j, s)
			case "":
			default:
				t.Errorf("deploy.yml job %s runs pulumi %s", j.id, s.with("command"))
			}
		}
	}
	dev, prod := ups["dev"], ups["prod"]
	if dev == nil || prod == nil {
		t.Fatalf("deploy.yml must run pulumi up for dev and prod, found %v", ups)
	}
	if !slices.Contains(prod.Needs, dev.id) {
		t.Errorf("deploy.yml: prod (%s) does not wait for dev (%s)", prod.id, dev.id)
	}
	if dev.environmentName() != "dev" || prod.environmentName() != "prod" {
		t.Errorf("deploy.yml environments: dev job %q, prod job %q; want dev and prod (prod holds the required reviewers)", dev.environmentName(), prod.environmentName())
	}
}

// checkUpJob checks one `pulumi up` job: after the image, one update of the
// stack at a time, the image set to this commit before the update.
func checkUpJob(t *testing.T, w *workflow, j *job, up step) {
	t.Helper()
	stack := up.with("stack-name")
	if !slices.Contains(j.Needs, "image") {
		t.Errorf("deploy.yml job %s (pulumi up %s) does not need the image job", j.id, stack)
	}
	if j.Concurrency == nil || j.Concurrency.CancelInProgress != false || !strings.Contains(j.Concurrency.Group, stack) {
		t.Errorf("deploy.yml job %s: concurrency must serialise updates of %s and never cancel one", j.id, stack)
	}
	set := j.runIndex(
		`pulumi config set --path app.image.repository "$IMAGE_REPOSITORY" -s "$STACK"`,
		`pulumi config set --path app.image.tag "$IMAGE_TAG" -s "$STACK"`,
	)
	if set < 0 || set > stepIndex(j, up) {
		t.Errorf("deploy.yml job %s sets app.image.repository and app.image.tag of the stack only after pulumi up, or not at all", j.id)
		return
	}
	env := j.Steps[set].Env
	if env["IMAGE_TAG"] != "${{ needs.image.outputs.tag }}" || env["IMAGE_REPOSITORY"] != "${{ needs.image.outputs.repository }}" {
		t.Errorf("deploy.yml job %s: the image comes from %q:%q, want the image job's outputs", j.id, env["IMAGE_REPOSITORY"], env["IMAGE_TAG"])
	}
	if j.Env["STACK"] != stack {
		t.Errorf("deploy.yml job %s: STACK = %q but pulumi up runs on %s", j.id, j.Env["STACK"], stack)
	}
}

// The key the workflows set is the one the program reads: the stack files
// hold exchange:app.image.{repository,tag}, and prod's tag is the
// placeholder the deploy workflow replaces.
func TestImageKeyIsTheProgramsKey(t *testing.T) {
	var project struct {
		Name string `yaml:"name"`
	}
	decodeYAML(t, &project, "Pulumi.yaml")
	if project.Name != "exchange" {
		t.Fatalf("Pulumi.yaml project %q: the workflows' keys (app.image.tag) assume the exchange namespace", project.Name)
	}
	for _, stack := range []string{"dev", "prod"} {
		img := stackImage(t, stack)
		if img.Repository == "" || img.Tag == "" {
			t.Errorf("Pulumi.%s.yaml has no exchange:app.image.repository/tag for the workflows to set", stack)
		}
	}
	if tag := stackImage(t, "prod").Tag; tag != "set-by-deploy-workflow" {
		t.Errorf("Pulumi.prod.yaml app.image.tag = %q, want the placeholder set-by-deploy-workflow", tag)
	}
}
