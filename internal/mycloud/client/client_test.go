package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud"
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

// TestCreateRetryReusesIdempotencyKey: when the answer to a POST that the
// cloud carried out is lost (a 502 from a proxy, a connection cut before the
// answer), the client's retry sends the same Idempotency-Key and gets the
// VPC the first try made: one VPC, not two.
func TestCreateRetryReusesIdempotencyKey(t *testing.T) {
	for name, lose := range map[string]func(w http.ResponseWriter){
		"502 after the create": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"error":{"code":"BadGateway","message":"upstream answer lost"}}`))
		},
		"connection cut after the create": func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			store, err := mycloud.OpenStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			cloud := mycloud.NewServer(store, mycloud.Config{Credentials: map[string]string{"AKTEST": "secret"}})
			var (
				mu   sync.Mutex
				keys []string
			)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					cloud.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				keys = append(keys, r.Header.Get(mycloud.HeaderIdempotencyKey))
				first := len(keys) == 1
				mu.Unlock()
				if !first {
					cloud.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				cloud.ServeHTTP(rec, r)
				if rec.Code != http.StatusCreated {
					t.Errorf("the first try was not carried out: HTTP %d %s", rec.Code, rec.Body)
				}
				lose(w)
			}))
			t.Cleanup(hs.Close)
			c := client.New(hs.URL, "AKTEST", "secret")
			c.MinBackoff, c.MaxBackoff = time.Millisecond, time.Millisecond

			obj, err := c.Create(context.Background(), mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"})
			if err != nil {
				t.Fatalf("create through a lost answer: %v", err)
			}
			vpcs, err := c.List(context.Background(), mycloud.KindVPC, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(vpcs) != 1 || vpcs[0].String("id") != obj.String("id") {
				t.Fatalf("a retried create made VPCs %v, want only %s", vpcs, obj.String("id"))
			}
			if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
				t.Fatalf("the tries sent the keys %q, want one key twice", keys)
			}

			// A second Create is another request: another key.
			if _, err := c.Create(context.Background(), mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"}); err != nil {
				t.Fatal(err)
			}
			if len(keys) != 3 || keys[2] == keys[0] {
				t.Fatalf("a second Create sent the keys %q, want a new one", keys)
			}
		})
	}
}
