package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// decodeObject decodes the JSON object raw (as Pulumi hands structured config
// to a program) into dst, which already holds the defaults. It rejects keys
// that dst does not declare, naming the full key path and the keys allowed at
// that level, because encoding/json would silently drop a misspelt key and
// leave its default in place.
func decodeObject(key, raw string, dst any) error {
	var generic any
	err := json.Unmarshal([]byte(raw), &generic)
	if _, isObject := generic.(map[string]any); err != nil || !isObject {
		return fmt.Errorf("%s: %q is not a mapping; allowed a YAML mapping of the keys below %s in the stack file", key, abbreviate(raw), key)
	}
	if err := checkKeys(key, generic, reflect.TypeOf(dst).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("%s.%s: a %s is not allowed; allowed a %s", key, typeErr.Field, typeErr.Value, jsonKind(typeErr.Type))
		}
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// checkKeys walks value alongside the struct type t and reports the first
// key (in sorted order, so messages are stable) that t has no field for.
func checkKeys(path string, value any, t reflect.Type) error {
	obj, ok := value.(map[string]any)
	if !ok || t.Kind() != reflect.Struct {
		// Type mismatches are reported by the typed decode.
		return nil
	}
	fields := jsonFields(t)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ft, ok := fields[k]
		if !ok {
			return fmt.Errorf("%s: unknown key %q; allowed keys: %s", path, k, strings.Join(sortedKeys(fields), ", "))
		}
		if err := checkKeys(path+"."+k, obj[k], ft); err != nil {
			return err
		}
	}
	return nil
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
	}
	return fields
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "whole number"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.String:
		return "string"
	case reflect.Struct, reflect.Map:
		return "mapping"
	case reflect.Slice:
		return "list"
	default:
		return t.Kind().String()
	}
}

// abbreviate keeps error messages readable when a whole object is quoted.
func abbreviate(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
