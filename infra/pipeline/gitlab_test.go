package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// gitlabJob is the part of a GitLab CI/CD job the tests look at.
type gitlabJob struct {
	Stage        string            `yaml:"stage"`
	Extends      stringList        `yaml:"extends"`
	Needs        stringList        `yaml:"needs"`
	Rules        []gitlabRule      `yaml:"rules"`
	Variables    map[string]string `yaml:"variables"`
	Environment  any               `yaml:"environment"`
	Services     []any             `yaml:"services"`
	BeforeScript []string          `yaml:"before_script"`
	Script       []string          `yaml:"script"`
	Parallel     *struct {
		Matrix []map[string]any `yaml:"matrix"`
	} `yaml:"parallel"`
	Artifacts *struct {
		Paths   []string `yaml:"paths"`
		When    string   `yaml:"when"`
		Reports struct {
			Dotenv string `yaml:"dotenv"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
	ResourceGroup string `yaml:"resource_group"`
	Interruptible *bool  `yaml:"interruptible"`
}

type gitlabRule struct {
	If           string            `yaml:"if"`
	When         string            `yaml:"when"`
	AllowFailure *bool             `yaml:"allow_failure"`
	Variables    map[string]string `yaml:"variables"`
}

// gitlabPipeline is .gitlab-ci.yml: its stages and its jobs (hidden
// templates, whose names start with a dot, included).
type gitlabPipeline struct {
	Stages []string
	Jobs   map[string]*gitlabJob
}

func loadGitLab(t *testing.T) gitlabPipeline {
	t.Helper()
	var raw map[string]yaml.Node
	decodeYAML(t, &raw, ".gitlab-ci.yml")
	p := gitlabPipeline{Jobs: map[string]*gitlabJob{}}
	for key, node := range raw {
		switch key {
		case "stages":
			if err := node.Decode(&p.Stages); err != nil {
				t.Fatalf(".gitlab-ci.yml stages: %v", err)
			}
		case "workflow", "variables", "default", "include", "image", "services", "cache", "before_script", "after_script":
		default:
			j := &gitlabJob{}
			if err := node.Decode(j); err != nil {
				t.Fatalf(".gitlab-ci.yml job %s: %v", key, err)
			}
			p.Jobs[key] = j
		}
	}
	return p
}

func (p gitlabPipeline) job(t *testing.T, name string) *gitlabJob {
	t.Helper()
	j := p.Jobs[name]
	if j == nil {
		t.Fatalf(".gitlab-ci.yml has no job %s", name)
	}
	return j
}

// script is a job's before_script (its own or its templates') and script.
func (p gitlabPipeline) script(j *gitlabJob) string {
	var parts []string
	for _, e := range j.Extends {
		if tpl := p.Jobs[e]; tpl != nil {
			parts = append(parts, p.script(&gitlabJob{Extends: tpl.Extends, BeforeScript: tpl.BeforeScript}))
		}
	}
	parts = append(parts, j.BeforeScript...)
	parts = append(parts, j.Script...)
	return strings.Join(parts, "\n")
}

func (j *gitlabJob) environmentName() string {
	if e, ok := j.Environment.(map[string]any); ok {
		return fmt.Sprint(e["name"])
	}
	return fmt.Sprint(j.Environment)
}

// gitlabServices are the service images of a job.
func gitlabServices(t *testing.T, job string) []string {
	t.Helper()
	var out []string
	for _, s := range loadGitLab(t).job(t, job).Services {
		switch s := s.(type) {
		case string:
			out = append(out, s)
		case map[string]any:
			out = append(out, fmt.Sprint(s["name"]))
		}
	}
	if len(out) == 0 {
		t.Fatalf(".gitlab-ci.yml job %s has no services", job)
	}
	return out
}

const (
	onDefaultBranch = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
	onMergeRequest  = `$CI_PIPELINE_SOURCE == "merge_request_event"`
)

// The GitLab alternative has the same stages as the GitHub pipeline: tests,
// previews on merge requests, the image, dev on the default branch and prod
// by hand after it.
func TestGitLabPipeline(t *testing.T) {
	p := loadGitLab(t)
	if want := []string{"test", "preview", "build", "deploy"}; !slices.Equal(p.Stages, want) {
		t.Errorf(".gitlab-ci.yml stages %v, want %v", p.Stages, want)
	}
	for name, j := range p.Jobs {
		if !strings.HasPrefix(name, ".") && !slices.Contains(p.Stages, j.Stage) {
			t.Errorf(".gitlab-ci.yml job %s: stage %q is not one of the stages", name, j.Stage)
		}
	}

	test := p.job(t, "test")
	if test.Stage != "test" || len(test.Rules) != 0 {
		t.Errorf(".gitlab-ci.yml test job: stage %q, rules %v; want stage test on every pipeline", test.Stage, test.Rules)
	}
	if url := test.Variables["DATABASE_URL"]; !strings.HasPrefix(url, "postgres://") || !strings.Contains(url, "@postgres:5432/") {
		t.Errorf(".gitlab-ci.yml test job: DATABASE_URL %q does not reach the postgres service", url)
	}
	for _, want := range []string{"./scripts/test.sh", "go vet", "staticcheck@", "govulncheck@", "postgresql-client-", "postgresql-17 ", "chromium"} {
		if !strings.Contains(p.script(test), want) {
			t.Errorf(".gitlab-ci.yml test job runs no %q", want)
		}
	}

	preview := p.job(t, "preview")
	if preview.Stage != "preview" || len(preview.Rules) != 1 || preview.Rules[0].If != onMergeRequest || preview.Rules[0].When == "never" {
		t.Errorf(".gitlab-ci.yml preview job: stage %q, rules %+v; want the preview stage on merge requests only", preview.Stage, preview.Rules)
	}
	var stacks []string
	if preview.Parallel != nil {
		for _, m := range preview.Parallel.Matrix {
			if l, ok := m["STACK"].([]any); ok {
				for _, s := range l {
					stacks = append(stacks, fmt.Sprint(s))
				}
			}
		}
	}
	if !sameSet(stacks, []string{"dev", "prod"}) {
		t.Errorf(".gitlab-ci.yml previews stacks %v, want dev and prod", stacks)
	}
	ps := p.script(preview)
	for _, want := range []string{
		`pulumi config set --path app.image.tag "$CI_COMMIT_SHA" -s "$STACK"`,
		`pulumi preview -s "$STACK"`,
		`scripts/ci/gitlab-mr-note.sh "$STACK"`, // the merge request note
	} {
		if !strings.Contains(ps, want) {
			t.Errorf(".gitlab-ci.yml preview job runs no %q", want)
		}
	}
	if preview.Artifacts == nil || preview.Artifacts.When != "always" || !slices.Contains(preview.Artifacts.Paths, "preview-$STACK.txt") {
		t.Error(".gitlab-ci.yml preview job keeps no preview-$STACK.txt artifact")
	}

	build := p.job(t, "build")
	if build.Stage != "build" || !slices.Contains(build.Needs, "test") {
		t.Errorf(".gitlab-ci.yml build job: stage %q, needs %v; want the build stage after test", build.Stage, build.Needs)
	}
	pushes := map[string]string{}
	for _, r := range build.Rules {
		pushes[r.If] = r.Variables["PUSH"]
	}
	if pushes[onDefaultBranch] != "true" || pushes[onMergeRequest] != "false" || len(pushes) != 2 {
		t.Errorf(".gitlab-ci.yml build job rules %+v: want push on the default branch and build only on merge requests", build.Rules)
	}
	bs := p.script(build)
	for _, want := range []string{`name="$repository:$CI_COMMIT_SHA",push="$PUSH"`, "IMAGE_TAG=%s", `"$CI_COMMIT_SHA" > image.env`, "build-arg:VERSION=\"$CI_COMMIT_SHA\""} {
		if !strings.Contains(bs, want) {
			t.Errorf(".gitlab-ci.yml build job lacks %q (the image tagged with the commit SHA)", want)
		}
	}
	if strings.Contains(bs, ":latest") {
		t.Error(".gitlab-ci.yml build job pushes a latest tag")
	}
	if build.Artifacts == nil || build.Artifacts.Reports.Dotenv != "image.env" {
		t.Error(".gitlab-ci.yml build job hands the image to the deploy jobs through no dotenv report (image.env)")
	}

	for _, stack := range []string{"dev", "prod"} {
		j := p.job(t, "deploy-"+stack)
		if j.Stage != "deploy" || j.Variables["STACK"] != stack || j.environmentName() != stack {
			t.Errorf(".gitlab-ci.yml deploy-%s: stage %q, STACK %q, environment %q", stack, j.Stage, j.Variables["STACK"], j.environmentName())
		}
		if len(j.Rules) != 1 || j.Rules[0].If != onDefaultBranch {
			t.Errorf(".gitlab-ci.yml deploy-%s rules %+v: want the default branch only", stack, j.Rules)
		}
		if !slices.Contains(j.Needs, "build") || j.ResourceGroup == "" || j.Interruptible == nil || *j.Interruptible {
			t.Errorf(".gitlab-ci.yml deploy-%s: needs build, a resource_group and interruptible: false", stack)
		}
		s := p.script(j)
		set := strings.Index(s, `pulumi config set --path app.image.tag "$IMAGE_TAG" -s "$STACK"`)
		up := strings.Index(s, `pulumi up -s "$STACK" --yes`)
		if set < 0 || up < 0 || set > up {
			t.Errorf(".gitlab-ci.yml deploy-%s: want app.image.tag set to $IMAGE_TAG before pulumi up", stack)
		}
	}
	dev, prod := p.Jobs["deploy-dev"], p.Jobs["deploy-prod"]
	if dev.Rules[0].When == "manual" {
		t.Error(".gitlab-ci.yml deploy-dev must run by itself on the default branch")
	}
	if r := prod.Rules[0]; r.When != "manual" || r.AllowFailure == nil || *r.AllowFailure {
		t.Errorf(".gitlab-ci.yml deploy-prod rule %+v: want when: manual with allow_failure: false (the pipeline waits for it)", r)
	}
	if !slices.Contains(prod.Needs, "deploy-dev") {
		t.Error(".gitlab-ci.yml deploy-prod does not wait for deploy-dev")
	}
}

// Dependabot covers every Go module of the workspace, the workflows'
// actions and the Dockerfile's images.
func TestDependabot(t *testing.T) {
	var cfg struct {
		Version int `yaml:"version"`
		Updates []struct {
			Ecosystem string `yaml:"package-ecosystem"`
			Directory string `yaml:"directory"`
			Schedule  struct {
				Interval string `yaml:"interval"`
			} `yaml:"schedule"`
		} `yaml:"updates"`
	}
	decodeYAML(t, &cfg, ".github", "dependabot.yml")
	if cfg.Version != 2 {
		t.Errorf("dependabot.yml version %d, want 2", cfg.Version)
	}
	have := map[string]bool{}
	for _, u := range cfg.Updates {
		have[u.Ecosystem+" "+u.Directory] = true
		if u.Schedule.Interval == "" {
			t.Errorf("dependabot.yml %s %s has no schedule", u.Ecosystem, u.Directory)
		}
	}
	want := []string{"github-actions /", "docker /"}
	for _, dir := range workspaceModules(t) {
		want = append(want, "gomod /"+dir)
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("dependabot.yml does not update %s", w)
		}
	}
}

// workspaceModules are the module directories go.work uses.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	var dirs []string
	in := false
	for _, line := range strings.Split(readFile(t, "go.work"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "use (":
			in = true
		case line == ")":
			in = false
		case in && line != "":
			dirs = append(dirs, strings.TrimPrefix(line, "./"))
		case strings.HasPrefix(line, "use "):
			dirs = append(dirs, strings.TrimPrefix(strings.TrimPrefix(line, "use "), "./"))
		}
	}
	if !sameSet(dirs, []string{"infra", "service"}) {
		t.Fatalf("go.work uses %v; want the infra and service modules", dirs)
	}
	return dirs
}
