package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/httperr"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds each page's template (the layout plus the page) and the
// content hash of each static file, which versions its URL so browsers may
// cache it for good.
type pages struct {
	byName   map[string]*template.Template
	versions map[string]string
}

func mustParsePages() *pages {
	p := &pages{byName: map[string]*template.Template{}, versions: map[string]string{}}
	statics, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(statics, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(statics, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		p.versions[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: read static files: %v", err))
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t := template.New("layout.html").Funcs(funcs(p.asset))
		// A template that fails to parse is a bug found by every test run.
		p.byName[strings.TrimSuffix(base, ".html")] = template.Must(t.ParseFS(templateFS, "templates/layout.html", name))
	}
	return p
}

// asset is the URL of a static file, versioned by its content.
func (p *pages) asset(name string) (string, error) {
	v, ok := p.versions[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string // which navigation entry is current
	User  *auth.Principal
	CSRF  string
	Flash flash
	Demo  bool
	Data  any
}

// render writes a page with status; pages are personal, so nothing caches them.
func (s *site) render(c echo.Context, status int, name, title string, data any) error {
	t, ok := s.pages.byName[name]
	if !ok {
		return fmt.Errorf("web: no page template %q", name)
	}
	v := view{Title: title, Nav: name, Flash: s.takeFlash(c), Demo: s.Config.Mode == config.ModeDemo, Data: data}
	if p, ok := principalOf(c); ok {
		v.User, v.CSRF = &p, p.Session.CSRFToken
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// htmlErrors renders what a page handler fails with as a page: a client
// error with its message, anything else as a logged 500 that shows only
// the request id. The JSON error handler never sees page errors.
func (s *site) htmlErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		status, msg := http.StatusInternalServerError, ""
		if e, ok := httperr.Classify(err); ok {
			status, msg = httperr.Status(e), capitalised(e.Message)
			httperr.SetRetryAfter(c.Response().Header(), e)
			err = e
		} else {
			reqID := c.Response().Header().Get(echo.HeaderXRequestID)
			s.Log.ErrorContext(c.Request().Context(), "page failed", "error", err.Error(), "request_id", reqID,
				"method", c.Request().Method, "route", c.Path())
			msg = "Something went wrong on our side. Quote request id " + reqID + " to support."
		}
		if wantsJSON(c) {
			return jsonError(c, status, err, msg)
		}
		return s.render(c, status, "error", http.StatusText(status), msg)
	}
}

// static serves the embedded files; a versioned URL may be cached for a year.
func (s *site) static(c echo.Context) error {
	name := strings.TrimPrefix(c.Param("*"), "/")
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil {
		return echo.ErrNotFound
	}
	if v := c.QueryParam("v"); v != "" && v == s.pages.versions[name] {
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Response().Header().Set("Cache-Control", "no-cache")
	}
	return c.Blob(http.StatusOK, contentType(name), b)
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}
