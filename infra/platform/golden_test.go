package platform

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// update rewrites the golden files instead of comparing with them:
//
//	go test ./infra/platform -run 'TestChartValuesGolden|TestServiceContract' -update
//
// Review the diff before committing it: a golden file changes only when
// what the program renders changes.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ and service/internal/config/testdata/infra/")

// golden compares v, as indented JSON, with the file at path, or writes it
// there with -update. JSON sorts map keys, so the bytes are stable.
func golden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("golden %s: %v", path, err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the program renders now; if the change is intended, run the test with -update and review the diff.\n%s",
			path, firstDifference(want, got))
	}
}

// firstDifference shows the first differing line of two renderings.
func firstDifference(want, got []byte) string {
	w, g := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			return "line " + strconv.Itoa(i+1) + ":\n  golden:   " + string(wl) + "\n  rendered: " + string(gl)
		}
	}
	return ""
}
