//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// chartMeta is the part of a Chart.yaml the repository index repeats.
type chartMeta struct {
	APIVersion  string `yaml:"apiVersion"`
	Name        string `yaml:"name"`
	Version     string `yaml:"version"`
	Description string `yaml:"description"`
	Type        string `yaml:"type,omitempty"`
}

// chartRepo is a Helm chart repository (index.yaml plus one .tgz per
// chart) served on 127.0.0.1, built from the fixture chart directories.
type chartRepo struct {
	URL    string
	Charts map[string]chartMeta // by chart name

	srv *http.Server
}

// startChartRepo packages every chart directory under dir and serves them.
func startChartRepo(dir string) (*chartRepo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("chart fixtures: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chart repository: listen: %w", err)
	}
	r := &chartRepo{URL: "http://" + l.Addr().String(), Charts: map[string]chartMeta{}}
	files := map[string][]byte{}
	index := map[string][]map[string]any{}
	created := time.Now().UTC().Format(time.RFC3339)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		meta, tgz, err := packageChart(filepath.Join(dir, e.Name()))
		if err != nil {
			l.Close()
			return nil, err
		}
		if meta.Name != e.Name() {
			l.Close()
			return nil, fmt.Errorf("chart fixture %s is named %q in its Chart.yaml", e.Name(), meta.Name)
		}
		file := fmt.Sprintf("%s-%s.tgz", meta.Name, meta.Version)
		sum := sha256.Sum256(tgz)
		files["/"+file] = tgz
		r.Charts[meta.Name] = meta
		index[meta.Name] = []map[string]any{{
			"apiVersion":  meta.APIVersion,
			"name":        meta.Name,
			"version":     meta.Version,
			"description": meta.Description,
			"type":        meta.Type,
			"created":     created,
			"digest":      hex.EncodeToString(sum[:]),
			"urls":        []string{r.URL + "/" + file},
		}}
	}
	idx, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "entries": index, "generated": created})
	if err != nil {
		l.Close()
		return nil, err
	}
	files["/index.yaml"] = idx
	r.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, ok := files[req.URL.Path]
			if !ok {
				http.NotFound(w, req)
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			_, _ = w.Write(body)
		}),
	}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *chartRepo) Close() { _ = r.srv.Close() }

// packageChart is `helm package`: a gzipped tar of the chart directory
// under a top-level directory named after the chart.
func packageChart(dir string) (chartMeta, []byte, error) {
	var meta chartMeta
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return meta, nil, err
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return meta, nil, fmt.Errorf("%s/Chart.yaml: %w", dir, err)
	}
	if !strings.HasPrefix(meta.Description, "TEST DOUBLE") {
		return meta, nil, fmt.Errorf("%s/Chart.yaml: a fixture's description must start with \"TEST DOUBLE\"", dir)
	}
	var paths []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return meta, nil, err
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			return meta, nil, err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: meta.Name + "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(body)),
			ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return meta, nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return meta, nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return meta, nil, err
	}
	if err := gz.Close(); err != nil {
		return meta, nil, err
	}
	return meta, buf.Bytes(), nil
}
