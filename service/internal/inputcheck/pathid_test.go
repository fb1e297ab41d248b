package inputcheck

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

func TestPathIDTakesOnlyPositiveDecimalIDs(t *testing.T) {
	e := echo.New()
	for raw, want := range map[string]int64{
		"1": 1, "42": 42, "9223372036854775807": 9223372036854775807,
		"0": 0, "-1": 0, "+1": 1, "abc": 0, "1.5": 0, "1e3": 0, "0x10": 0, " 1": 0, "": 0,
		"9223372036854775808": 0, "٣": 0,
	} {
		c := e.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
		c.SetParamNames("id")
		c.SetParamValues(raw)
		got, err := PathID(c, "order")
		var ae *apierr.Error
		switch {
		case want > 0 && (err != nil || got != want):
			t.Errorf("%q: %d %v, want %d", raw, got, err, want)
		case want == 0 && (!errors.As(err, &ae) || ae.Code != apierr.NotFound || ae.Message != `no order with id "`+raw+`"`):
			t.Errorf("%q: %d %v, want 404 no order with id %q", raw, got, err, raw)
		}
	}
}
