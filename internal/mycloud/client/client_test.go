package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// TestErrorChain checks that the last API error stays in the returned chain,
// whether the client gives up or the context ends while it backs off.
func TestErrorChain(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"Busy","message":"try later"}}`))
	}))
	t.Cleanup(hs.Close)

	cases := map[string]struct {
		maxAttempts int
		minBackoff  time.Duration
		timeout     time.Duration
		wantCtxErr  error
		wantText    string
	}{
		"gives up":                   {maxAttempts: 2, minBackoff: time.Millisecond, timeout: 10 * time.Second, wantText: "giving up after 2 attempts"},
		"context ends while backing": {maxAttempts: 8, minBackoff: time.Minute, timeout: 200 * time.Millisecond, wantCtxErr: context.DeadlineExceeded, wantText: "last error"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := client.New(hs.URL, "AKTEST", "secret")
			c.MaxAttempts, c.MinBackoff, c.MaxBackoff = tc.maxAttempts, tc.minBackoff, tc.minBackoff
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, err := c.Get(ctx, "vpcs", "vpc-1")
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || apiErr.Code != "Busy" {
				t.Fatalf("errors.As does not find the API's 503 in %v", err)
			}
			if tc.wantCtxErr != nil && !errors.Is(err, tc.wantCtxErr) {
				t.Fatalf("errors.Is(%v, %v) is false", err, tc.wantCtxErr)
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), "try later") {
				t.Fatalf("error %q should contain %q and the API's message", err, tc.wantText)
			}
		})
	}
}
