package httpapi

import (
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/strictjson"
)

// decodeJSON reads a JSON request body strictly (package strictjson): a
// JSON content type in UTF-8, one object, nothing unknown, duplicated or
// hostile in it.
func decodeJSON(c echo.Context, dst any) error {
	ct, params, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || ct != echo.MIMEApplicationJSON {
		return apierr.New(apierr.UnsupportedMedia, "send the body as Content-Type: application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apierr.New(apierr.UnsupportedMedia, "JSON bodies are UTF-8; charset %q is not accepted", cs)
	}
	if body, ok := inputcheck.CheckedJSON(c); ok {
		return strictjson.Checked(body, dst)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if he := new(echo.HTTPError); errors.As(err, &he) {
			return he // the body limit's 413
		}
		return apierr.New(apierr.InvalidJSON, "cannot read the request body")
	}
	return strictjson.Decode(body, dst)
}
