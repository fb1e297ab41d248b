package stackfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	content := `encryptionsalt: v1:abc
config:
  exchange:app:
    replicas: 2
    tls: {enabled: true}
  exchange:dbPassword:
    secure: v1:cipher
  exchange:name: plain
  exchange:count: 3
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Value{
		"exchange:app":        {Value: `{"replicas":2,"tls":{"enabled":true}}`},
		"exchange:dbPassword": {Value: "v1:cipher", Secure: true},
		"exchange:name":       {Value: "plain"},
		"exchange:count":      {Value: "3"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %+v, want %+v", k, got[k], v)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}
