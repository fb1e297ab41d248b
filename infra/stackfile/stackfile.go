// Package stackfile reads a committed Pulumi.<stack>.yaml into the flat
// "namespace:key" → value form the Pulumi engine hands a program, so tests
// (and the end-to-end runner) feed the real stack files to the program.
package stackfile

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Value is one config value. Structured values are JSON-encoded, as the
// engine passes them; Secure values hold ciphertext, never plaintext.
type Value struct {
	Value  string
	Secure bool
}

type file struct {
	Config map[string]any `yaml:"config"`
}

// Read parses the config section of a stack file.
func Read(path string) (map[string]Value, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stack file: %w", err)
	}
	var f file
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("parse stack file %s: %w", path, err)
	}
	out := make(map[string]Value, len(f.Config))
	for key, v := range f.Config {
		switch v := v.(type) {
		case string:
			out[key] = Value{Value: v}
		case map[string]any:
			if cipher, ok := v["secure"].(string); ok && len(v) == 1 {
				out[key] = Value{Value: cipher, Secure: true}
				continue
			}
			js, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("stack file %s: key %s: %w", path, key, err)
			}
			out[key] = Value{Value: string(js)}
		default:
			// Scalars other than strings reach a program as their text.
			out[key] = Value{Value: fmt.Sprint(v)}
		}
	}
	return out, nil
}

// Set changes one value inside a structured key, as `pulumi config set
// --path` would: Set(cfg, "exchange:app", "tls.enabled", true).
func Set(cfg map[string]Value, key, path string, value any) error {
	obj := map[string]any{}
	if v, ok := cfg[key]; ok {
		if err := json.Unmarshal([]byte(v.Value), &obj); err != nil {
			return fmt.Errorf("config %s is not an object: %w", key, err)
		}
	}
	SetPath(obj, path, value)
	js, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("config %s: %w", key, err)
	}
	cfg[key] = Value{Value: string(js)}
	return nil
}

// SetPath sets a dotted path inside a decoded object, creating the maps on
// the way.
func SetPath(obj map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	m := obj
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}
