package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root is the repository root, relative to this package.
const root = "../.."

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{root}, parts...)...)
}

func readFile(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeYAML(t *testing.T, v any, parts ...string) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, parts...)), v); err != nil {
		t.Fatalf("%s: %v", filepath.Join(parts...), err)
	}
}

// workflow is the part of a GitHub Actions workflow the tests look at.
type workflow struct {
	file        string
	Name        string            `yaml:"name"`
	On          map[string]any    `yaml:"on"`
	Permissions any               `yaml:"permissions"`
	Concurrency *concurrency      `yaml:"concurrency"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]*job   `yaml:"jobs"`
}

type concurrency struct {
	Group            string `yaml:"group"`
	CancelInProgress any    `yaml:"cancel-in-progress"`
}

type job struct {
	id          string
	Name        string             `yaml:"name"`
	Needs       stringList         `yaml:"needs"`
	If          string             `yaml:"if"`
	Uses        string             `yaml:"uses"`
	Permissions any                `yaml:"permissions"`
	Environment any                `yaml:"environment"`
	Concurrency *concurrency       `yaml:"concurrency"`
	Outputs     map[string]string  `yaml:"outputs"`
	Strategy    *strategy          `yaml:"strategy"`
	Env         map[string]string  `yaml:"env"`
	Services    map[string]service `yaml:"services"`
	Steps       []step             `yaml:"steps"`
}

type strategy struct {
	Matrix map[string]any `yaml:"matrix"`
}

type service struct {
	Image string            `yaml:"image"`
	Env   map[string]string `yaml:"env"`
}

type step struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// stringList is a YAML string or list of strings (needs:, stages:).
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = stringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

func loadWorkflow(t *testing.T, name string) *workflow {
	t.Helper()
	w := &workflow{file: name}
	decodeYAML(t, w, ".github", "workflows", name)
	if len(w.Jobs) == 0 {
		t.Fatalf("%s: no jobs", name)
	}
	for id, j := range w.Jobs {
		if j == nil {
			t.Fatalf("%s: job %s is empty", name, id)
		}
		j.id = id
	}
	return w
}

// workflowFiles are the names of every workflow file.
func workflowFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(repoPath(".github", "workflows"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yml") || strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no workflows under .github/workflows")
	}
	sort.Strings(names)
	return names
}

// jobsSorted returns the jobs in a stable order.
func (w *workflow) jobsSorted() []*job {
	ids := make([]string, 0, len(w.Jobs))
	for id := range w.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*job, len(ids))
	for i, id := range ids {
		out[i] = w.Jobs[id]
	}
	return out
}

// triggers are the events a workflow runs on.
func (w *workflow) triggers() []string {
	var out []string
	for k := range w.On {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dependsOn reports whether job id needs dep, directly or through other jobs.
func (w *workflow) dependsOn(id, dep string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(cur string) bool {
		if seen[cur] {
			return false
		}
		seen[cur] = true
		j := w.Jobs[cur]
		if j == nil {
			return false
		}
		for _, n := range j.Needs {
			if n == dep || walk(n) {
				return true
			}
		}
		return false
	}
	return walk(id)
}

// environmentName is a job's environment, whether written as a string or as
// {name, url}.
func (j *job) environmentName() string {
	switch e := j.Environment.(type) {
	case string:
		return e
	case map[string]any:
		if n, ok := e["name"].(string); ok {
			return n
		}
	}
	return ""
}

// permissions is a job's (or workflow's) permissions block as scope → level;
// ok is false when it is not set at all.
func permissions(v any) (map[string]string, bool, error) {
	switch p := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		return nil, true, fmt.Errorf("permissions: %q grants every scope at once; list the scopes", p)
	case map[string]any:
		out := map[string]string{}
		for k, v := range p {
			s, ok := v.(string)
			if !ok {
				return nil, true, fmt.Errorf("permissions: %s: %v is not read, write or none", k, v)
			}
			out[k] = s
		}
		return out, true, nil
	}
	return nil, true, fmt.Errorf("permissions: unexpected %T", v)
}

// stepsUsing returns the steps of j that use the action (owner/repo).
func (j *job) stepsUsing(action string) []step {
	var out []step
	for _, s := range j.Steps {
		if actionName(s.Uses) == action {
			out = append(out, s)
		}
	}
	return out
}

// actionName is owner/repo[/path] of a `uses:` reference, without @ref.
func actionName(uses string) string {
	name, _, _ := strings.Cut(uses, "@")
	return name
}

// with returns a step input as text ("" when unset); YAML booleans come back
// as "true"/"false".
func (s step) with(key string) string {
	v, ok := s.With[key]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// runIndex is the index of the first step whose run: script contains all of
// the given texts, or -1.
func (j *job) runIndex(texts ...string) int {
	for i, s := range j.Steps {
		ok := s.Run != ""
		for _, txt := range texts {
			ok = ok && strings.Contains(s.Run, txt)
		}
		if ok {
			return i
		}
	}
	return -1
}

func stepIndex(j *job, s step) int {
	for i := range j.Steps {
		if j.Steps[i].Uses == s.Uses && j.Steps[i].Name == s.Name && j.Steps[i].ID == s.ID && fmt.Sprint(j.Steps[i].With) == fmt.Sprint(s.With) {
			return i
		}
	}
	return -1
}

// matrixValues returns the values of a strategy.matrix key.
func (j *job) matrixValues(key string) []string {
	if j.Strategy == nil {
		return nil
	}
	l, _ := j.Strategy.Matrix[key].([]any)
	var out []string
	for _, v := range l {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}
