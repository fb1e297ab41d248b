package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// pageJSON is the contract's paginated list: items plus the cursor of the next page.
type pageJSON[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// page is a keyset page request: items with ids below Before, newest first.
type page struct {
	Before int64 // 0: from the newest
	Limit  int
}

// listPage reads ?limit= and ?cursor=, fetches, and sets next_cursor when
// the page is full. Cursors are ids, opaque to clients.
func listPage[T any](c echo.Context, fetch func(page) ([]T, error), id func(T) int64) error {
	p := page{Limit: 100}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			return apierr.New(apierr.InvalidRequest, "limit must be an integer from 1 to 1000")
		}
		p.Limit = n
	}
	if raw := c.QueryParam("cursor"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return apierr.New(apierr.InvalidRequest, "cursor is not one this server returned")
		}
		p.Before = n
	}
	items, err := fetch(p)
	if err != nil {
		return err
	}
	out := pageJSON[T]{Data: items}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(items) == p.Limit {
		out.NextCursor = strconv.FormatInt(id(items[len(items)-1]), 10)
	}
	return c.JSON(http.StatusOK, out)
}
