package bot

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckReady(t *testing.T) {
	t.Parallel()
	var status atomic.Int64
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		s := int(status.Load())
		if s == 0 {
			<-hang
			return
		}
		w.WriteHeader(s)
	}))
	defer srv.Close()
	defer close(hang)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close()

	tests := []struct {
		name   string
		addr   string
		status int
		want   string // "" = ready
	}{
		{"ready", "127.0.0.1:" + port, http.StatusOK, ""},
		{"every interface", ":" + port, http.StatusOK, ""},
		{"unspecified", "0.0.0.0:" + port, http.StatusOK, ""},
		{"not ready", "127.0.0.1:" + port, http.StatusServiceUnavailable, "503"},
		{"too slow", "127.0.0.1:" + port, 0, "deadline"},
		{"nobody there", closedAddr, http.StatusOK, "refused"},
		{"port 0", "127.0.0.1:0", http.StatusOK, "no fixed port"},
		{"not an address", "8080", http.StatusOK, "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status.Store(int64(tt.status))
			// The caller's deadline wins when it is sooner than HealthcheckTimeout.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := CheckReady(ctx, tt.addr)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
