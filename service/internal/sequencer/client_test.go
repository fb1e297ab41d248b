package sequencer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// What a forwarded command's answer means to the replica that forwarded
// it: only a leader that refused (409) certainly did not apply it; one that
// failed while handling it leaves the outcome unknown (503 to the client,
// never a 500).
func TestForwardStatusMeaning(t *testing.T) {
	for _, tc := range []struct {
		status     int
		notLeader  bool
		unknown    bool
		otherError bool
	}{
		{status: http.StatusConflict, notLeader: true},
		{status: http.StatusInternalServerError, unknown: true},
		{status: http.StatusServiceUnavailable, unknown: true},
		{status: http.StatusBadGateway, unknown: true},
		{status: http.StatusUnauthorized, otherError: true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tc.status)
		}))
		c := NewClient(nil, nil, []byte("secret"))
		_, err := c.forward(context.Background(), srv.URL, []byte("{}"))
		srv.Close()
		if errors.Is(err, ErrNotLeader) != tc.notLeader || errors.Is(err, ErrUnavailable) != tc.unknown ||
			(err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnavailable)) != tc.otherError {
			t.Errorf("leader answered %d: forward returned %v", tc.status, err)
		}
	}
}
