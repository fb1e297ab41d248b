package httpapi

import (
	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/jsonappend"
)

// answerJSON writes a hot path's answer with its hand-written encoder,
// the bytes c.JSON would write (a trailing newline included). ?pretty,
// which c.JSON indents, goes through c.JSON with v.
func answerJSON(c echo.Context, status int, v any, appendTo func([]byte) []byte) error {
	if c.Request().URL.RawQuery != "" {
		if _, pretty := c.QueryParams()["pretty"]; pretty {
			return c.JSON(status, v)
		}
	}
	return c.JSONBlob(status, append(appendTo(make([]byte, 0, 1024)), '\n'))
}

// appendJSON appends the item as encoding/json writes it.
func (it *batchItem) appendJSON(b []byte) []byte {
	return append(it.appendMembers(append(b, '{'), true), '}')
}

// appendMembers appends the item's members, as an object's first or not.
func (it *batchItem) appendMembers(b []byte, first bool) []byte {
	b = jsonappend.Int(jsonappend.Key(b, "status", first), int64(it.Status))
	if it.Order != nil {
		b = it.Order.AppendJSON(jsonappend.Key(b, "order", false))
	}
	if it.Error != nil {
		b = jsonappend.String(jsonappend.Key(append(jsonappend.Key(b, "error", false), '{'), "code", true), string(it.Error.Code))
		b = append(jsonappend.String(jsonappend.Key(b, "message", false), it.Error.Message), '}')
	}
	return b
}

// batchAnswer is the body of POST /api/v1/orders/batch.
type batchAnswer struct {
	Results []batchItem `json:"results"`
}

func (a *batchAnswer) appendJSON(b []byte) []byte {
	b = jsonappend.Key(append(b, '{'), "results", true)
	if a.Results == nil {
		return append(b, "null}"...)
	}
	return append(appendItems(b, a.Results), '}')
}

func appendItems(b []byte, items []batchItem) []byte {
	return jsonappend.Array(b, len(items), func(b []byte, i int) []byte { return items[i].appendJSON(b) })
}

// appendJSON appends the result as encoding/json writes it.
func (r *wsResult) appendJSON(b []byte) []byte {
	b = jsonappend.String(jsonappend.Key(append(b, '{'), "type", true), r.Type)
	if r.Op != "" {
		b = jsonappend.String(jsonappend.Key(b, "op", false), r.Op)
	}
	if r.ID != "" {
		b = jsonappend.String(jsonappend.Key(b, "id", false), r.ID)
	}
	b = r.batchItem.appendMembers(b, false)
	if len(r.Results) > 0 {
		b = appendItems(jsonappend.Key(b, "results", false), r.Results)
	}
	if r.Cancelled != nil {
		b = jsonappend.Key(b, "cancelled", false)
		if list := *r.Cancelled; list == nil {
			b = append(b, "null"...)
		} else {
			b = jsonappend.Array(b, len(list), func(b []byte, i int) []byte { return list[i].AppendJSON(b) })
		}
	}
	if r.CancelOnDisconnect != nil {
		b = jsonappend.Bool(jsonappend.Key(b, "cancel_on_disconnect", false), *r.CancelOnDisconnect)
	}
	return append(b, '}')
}
