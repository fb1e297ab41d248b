package proofs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/crypto-exchange/exchange/service/internal/proofs"
)

// The alert rules docs/proof-of-liabilities.md gives for the Pulumi
// program's rule file parse, carry a severity, a summary, a description
// and a runbook, and name only metrics this package exports.
func TestDocumentedAlertRules(t *testing.T) {
	raw, err := os.ReadFile("../../../docs/proof-of-liabilities.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "```yaml\n  - name: exchange-proof-of-liabilities")
	if !ok {
		t.Fatal("no rule group in the document")
	}
	block, _, _ = strings.Cut("  - name: exchange-proof-of-liabilities"+block, "```")
	block = strings.ReplaceAll(block, "${app_namespace}", "exchange")
	var groups []struct {
		Name  string
		Rules []struct {
			Alert, Expr, For string
			Labels           map[string]string
			Annotations      map[string]string
		}
	}
	if err := yaml.Unmarshal([]byte(block), &groups); err != nil {
		t.Fatalf("the rules are not YAML: %v", err)
	}
	reg := prometheus.NewRegistry()
	proofs.NewBuilder("", nil, reg, 0)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	rules := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			rules++
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && !exported[vs.Name] {
					t.Errorf("%s names %s, which the service does not export", r.Alert, vs.Name)
				}
				return nil
			})
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s", r.Alert, a)
				}
			}
		}
	}
	if rules != 2 {
		t.Fatalf("%d rules read", rules)
	}
}
