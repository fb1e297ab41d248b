package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

type assetJSON struct {
	Symbol    string `json:"symbol"`
	Name      string `json:"name"`
	Precision int    `json:"precision"`
}

func (s *api) listAssets(c echo.Context) error {
	assets, err := s.Catalog.Assets(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]assetJSON, len(assets))
	for i, a := range assets {
		out[i] = assetJSON{a.Symbol, a.Name, a.Precision}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *api) listMarkets(c echo.Context) error {
	markets, err := s.Catalog.Markets(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, markets)
}
