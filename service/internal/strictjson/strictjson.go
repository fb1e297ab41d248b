// Package strictjson reads a client's JSON body the one way we accept it:
// one object, valid UTF-8, no member named twice (not even in another
// case), no member the target does not have, names matched exactly, and no
// control characters (NUL above all) in any string. Whatever fails is a
// client error with the contract's code, before a byte reaches a handler.
package strictjson

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// maxDepth bounds nesting: no request of ours nests more than three deep.
const maxDepth = 16

// FieldCodes names the error code for a field of the wrong type, so
// `"amount": 1.5` is an invalid_amount like any other bad amount.
var FieldCodes = map[string]apierr.Code{
	"amount":         apierr.InvalidAmount,
	"price":          apierr.InvalidPrice,
	"quantity":       apierr.InvalidQuantity,
	"quote_quantity": apierr.InvalidQuantity,
}

// Decode checks data and unmarshals it into dst, a pointer to a struct.
func Decode(data []byte, dst any) error {
	if err := Check(data); err != nil {
		return err
	}
	return Checked(data, dst)
}

// Checked unmarshals data that already passed Check into dst. A member of
// a checked body (a socket command's order) may still be absent, which is
// refused as Check refuses an empty body.
func Checked(data []byte, dst any) error {
	if err := present(data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, dst, json.RejectUnknownMembers(true)); err != nil {
		return semanticError(err)
	}
	return nil
}

// Check verifies everything about data that does not depend on the target.
func Check(data []byte) error {
	if plain(data) {
		return nil
	}
	return check(data)
}

// check is Check's full reading, token by token, which words every refusal.
func check(data []byte) error {
	if err := present(data); err != nil {
		return err
	}
	if !utf8.Valid(data) {
		return apierr.New(apierr.InvalidInput, "the body is not valid UTF-8")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	// names holds, per open object or array, the object's member names
	// folded to lower case (nil for an array).
	var names []map[string]bool
	for {
		kind, n := dec.StackIndex(dec.StackDepth())
		isName := kind == '{' && n%2 == 0
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return syntaxError(err)
		}
		switch tok.Kind() {
		case '{', '[':
			if dec.StackDepth() > maxDepth {
				return apierr.New(apierr.InvalidJSON, "the JSON body nests deeper than %d levels", maxDepth)
			}
			var set map[string]bool
			if tok.Kind() == '{' {
				set = map[string]bool{}
			}
			names = append(names, set)
		case '}', ']':
			names = names[:len(names)-1]
		case '"':
			s := tok.String()
			if isName {
				folded := strings.ToLower(s)
				if names[len(names)-1][folded] {
					return apierr.New(apierr.InvalidJSON, "member %q appears twice (names are matched exactly, in one case only)", s)
				}
				names[len(names)-1][folded] = true
			}
			if err := checkText(s, isName); err != nil {
				return err
			}
		}
		if dec.StackDepth() == 0 {
			// One top-level value only.
			if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
				return apierr.New(apierr.InvalidJSON, "the body must hold exactly one JSON object")
			}
			return nil
		}
	}
}

func present(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return apierr.New(apierr.InvalidJSON, "the request body is empty; send a JSON object")
	}
	return nil
}

// checkText refuses control characters: NUL never, the others outside the
// whitespace a free-text value may hold (tab, line feed, carriage return).
func checkText(s string, isName bool) error {
	for _, r := range s {
		if r == 0 || (r < 0x20 || r == 0x7f) && (isName || (r != '\t' && r != '\n' && r != '\r')) {
			return apierr.New(apierr.InvalidInput, "strings may not hold control characters (found U+%04X)", r)
		}
	}
	return nil
}

func syntaxError(err error) error {
	var syn *jsontext.SyntacticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return apierr.New(apierr.InvalidJSON, "a member appears twice in one object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierr.New(apierr.InvalidJSON, "the JSON body ends too early")
	case errors.As(err, &syn):
		return apierr.New(apierr.InvalidJSON, "malformed JSON at byte %d", syn.ByteOffset)
	}
	return apierr.New(apierr.InvalidJSON, "cannot read the JSON body")
}

func semanticError(err error) error {
	var sem *json.SemanticError
	if !errors.As(err, &sem) {
		return apierr.New(apierr.InvalidJSON, "cannot read the JSON body")
	}
	field := sem.JSONPointer.LastToken()
	switch {
	case errors.Is(sem.Err, json.ErrUnknownName):
		return apierr.New(apierr.UnknownField, "unknown field %q", field)
	case sem.JSONPointer == "":
		return apierr.New(apierr.InvalidJSON, "the body must be a JSON object")
	}
	code, ok := FieldCodes[field]
	if !ok {
		code = apierr.InvalidRequest
	}
	want := "value of another type"
	if sem.GoType != nil {
		want = kindName(sem.GoType.Kind().String())
	}
	return apierr.New(code, "%s must be a %s, got a JSON %s", sem.JSONPointer, want, kindOfJSON(sem.JSONKind))
}

func kindName(goKind string) string {
	switch goKind {
	case "ptr":
		return "string"
	case "slice":
		return "list"
	case "int", "int64", "int32":
		return "integer"
	}
	return goKind
}

func kindOfJSON(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}
