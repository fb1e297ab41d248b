// Package inputcheck turns hostile bytes away at the edge, before any
// handler (or PostgreSQL, which refuses NUL and invalid UTF-8 with an
// error that would otherwise surface as a 500) sees them: the path, the
// query, JSON and form bodies, the declared charset, the request id, and
// the ids in a route.
// Every refusal is a 4xx with a code and a message.
package inputcheck

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/strictjson"
)

// Middleware refuses a request whose path, query, form body or charset is
// not clean UTF-8 text. It must run after the body limit, so that reading
// a form body is bounded.
func Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if err := checkPath(req.URL); err != nil {
			return err
		}
		if err := checkQuery(req.URL.RawQuery); err != nil {
			return err
		}
		if err := checkBody(c, req); err != nil {
			return err
		}
		return next(c)
	}
}

func checkPath(u *url.URL) error {
	for _, p := range []string{u.Path, u.RawPath} {
		if !cleanText(p, false) {
			return apierr.New(apierr.InvalidInput, "the path holds bytes that are not printable UTF-8 text")
		}
	}
	return nil
}

func checkQuery(raw string) error {
	if raw == "" {
		return nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return apierr.New(apierr.InvalidInput, "the query string is malformed (a bad %%-escape or a ';')")
	}
	return checkValues(values, false, "query")
}

// checkValues vets names and values; free text (a form's reason, say) may
// hold tabs and line breaks, query values may not.
func checkValues(values url.Values, freeText bool, where string) error {
	for k, vs := range values {
		if !cleanText(k, false) {
			return apierr.New(apierr.InvalidInput, "a %s parameter name holds bytes that are not printable UTF-8 text", where)
		}
		for _, v := range vs {
			if !cleanText(v, freeText) {
				return apierr.New(apierr.InvalidInput, "%s parameter %q holds bytes that are not printable UTF-8 text", where, k)
			}
		}
	}
	return nil
}

// cleanText is valid UTF-8 without NUL or other control characters;
// freeText also allows tab, line feed and carriage return.
func cleanText(s string, freeText bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x20 && b != 0x7f {
			continue
		}
		if !freeText || (b != '\t' && b != '\n' && b != '\r') {
			return false
		}
	}
	return true
}

// checkedJSONKey holds a JSON body that passed strictjson.Check.
const checkedJSONKey = "inputcheck.json"

// CheckedJSON is the request's JSON body if the middleware checked it, so
// that a handler decodes it without checking it again (strictjson.Checked):
// the check was a twentieth of the CPU of a batch of orders, done twice.
func CheckedJSON(c echo.Context) ([]byte, bool) {
	b, ok := c.Get(checkedJSONKey).([]byte)
	return b, ok
}

// checkBody refuses a declared charset other than UTF-8 and multipart
// bodies (nothing of ours takes them), and vets a form body's fields.
func checkBody(c echo.Context, req *http.Request) error {
	raw := req.Header.Get(echo.HeaderContentType)
	if raw == "" || req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	ct, params, err := mime.ParseMediaType(raw)
	if err != nil {
		return apierr.New(apierr.UnsupportedMedia, "the Content-Type header is malformed")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apierr.New(apierr.UnsupportedMedia, "bodies are UTF-8; charset %q is not accepted", cs)
	}
	switch ct {
	case "multipart/form-data":
		return apierr.New(apierr.UnsupportedMedia, "multipart bodies are not accepted; send a form as application/x-www-form-urlencoded")
	case echo.MIMEApplicationJSON:
		// Whatever a route does with its body (some ignore it), a body
		// declared JSON must be clean JSON: one value, UTF-8, no control
		// characters, no name twice. What it must hold is the handler's.
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return err // the body limit's 413
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) == 0 {
			return nil
		}
		if err := strictjson.Check(body); err != nil {
			return err
		}
		c.Set(checkedJSONKey, body)
		return nil
	case echo.MIMEApplicationForm:
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return err // the body limit's 413
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return apierr.New(apierr.InvalidInput, "the form body is malformed (a bad %%-escape or a ';')")
		}
		return checkValues(values, true, "form")
	}
	return nil
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// RequestID keeps a client's X-Request-Id only if it is a short token of
// safe characters (it ends up in logs and responses); anything else is
// replaced by a fresh id from generate.
func RequestID(generate func() string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !safeRequestID.MatchString(id) {
				id = generate()
				c.Request().Header.Set(echo.HeaderXRequestID, id)
			}
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

// PathID is the route's {id} as a positive decimal id. Anything else names
// nothing that can exist: 404, "no <what> with id ...".
func PathID(c echo.Context, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apierr.New(apierr.NotFound, "no %s with id %q", what, c.Param("id"))
	}
	return id, nil
}
