package web_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/logtest"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/replica/replicatest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testPassword = "correct horse battery staple"

var testSecret = []byte("web-test-secret-key-0123456789abcdef0123")

// exchange is the whole server (HTTP API, pages, a real sequencer and
// market data feed) on a fresh database, as the httpapi tests run it.
type exchange struct {
	t     *testing.T
	db    *gorm.DB
	url   string
	users atomic.Int64
	logs  *logtest.Buffer
}

func newExchange(t *testing.T, mode config.Mode) *exchange {
	t.Helper()
	r := replicatest.Start(t, mode, testSecret)
	return &exchange{t: t, db: r.DB, url: r.URL, logs: r.Logs}
}

// email is a fresh address for a new user.
func (x *exchange) email(role string) string {
	return fmt.Sprintf("%s%d@example.com", role, x.users.Add(1))
}

// admin creates an admin as `exchange create-admin` would.
func (x *exchange) admin() string {
	a, err := auth.New(x.db, nil, time.Now)
	if err != nil {
		x.t.Fatal(err)
	}
	email := x.email("admin")
	if _, err := a.Register(context.Background(), email, testPassword, auth.RoleAdmin); err != nil {
		x.t.Fatal(err)
	}
	return email
}
