package mycloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud"
	"github.com/vela-infra/vela-infra/internal/mycloud/auth"
	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// answer is a raw API answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) errorField(name string) string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

// post sends a signed POST /v1/<kind> with the raw Idempotency-Key header
// values keys (none when empty).
func post(t *testing.T, url, accessKey, secret, kind, body string, keys ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/"+kind, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for _, k := range keys {
		req.Header.Add(mycloud.HeaderIdempotencyKey, k)
	}
	auth.Sign(req, []byte(body), accessKey, secret, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("HTTP %d: body is not JSON: %v", resp.StatusCode, err)
	}
	return answer{resp.StatusCode, resp.Header, out}
}

// requestLog returns the admin API's request log.
func requestLog(t *testing.T, e *env) []mycloud.RequestLogEntry {
	t.Helper()
	_, out := e.admin(t, http.MethodGet, "/admin/v1/requests", nil)
	data, _ := json.Marshal(out["items"])
	var items []mycloud.RequestLogEntry
	if err := json.Unmarshal(data, &items); err != nil {
		t.Fatal(err)
	}
	return items
}

func countVPCs(t *testing.T, cli *client.Client) int {
	t.Helper()
	items, err := cli.List(context.Background(), mycloud.KindVPC, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}

func TestIdempotencyKeyValidation(t *testing.T) {
	e := newEnv(t, 0)
	cases := map[string]struct {
		keys []string
		want int
	}{
		"bare":                       {[]string{"8e03978e-40d5-43e8-bc93-6894a57f9324"}, 201},
		"structured-field string":    {[]string{`"8e03978e-40d5-43e8-bc93-6894a57f9325"`}, 201},
		"255 characters":             {[]string{strings.Repeat("k", 255)}, 201},
		"printable ASCII with space": {[]string{"a key ~!@#$%^&*()"}, 201},
		"empty quoted":               {[]string{`""`}, 400},
		"256 characters":             {[]string{strings.Repeat("k", 256)}, 400},
		"not ASCII":                  {[]string{"schlüssel"}, 400},
		"tab":                        {[]string{"a\tb"}, 400},
		"twice":                      {[]string{"one", "two"}, 400},
		"quote inside quotes":        {[]string{`"a"b"`}, 400},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cidr := fmt.Sprintf("10.%d.0.0/16", len(name))
			a := post(t, e.url, testKey, testSecret, mycloud.KindVPC, `{"name":"k1","cidr":"`+cidr+`"}`, tc.keys...)
			if a.status != tc.want {
				t.Fatalf("want HTTP %d, got %d: %v", tc.want, a.status, a.body)
			}
			if tc.want != 400 {
				return
			}
			if a.errorField("field") != mycloud.HeaderIdempotencyKey || !strings.Contains(a.errorField("message"), "Idempotency-Key header") {
				t.Fatalf("400 does not name the header: %v", a.body)
			}
		})
	}
}

func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t, time.Hour)
	const (
		key  = "run-1/mycloud_vpc/main"
		body = `{"name":"main","cidr":"10.0.0.0/16","tags":{"a":"1","b":"2"}}`
	)
	first := post(t, e.url, testKey, testSecret, mycloud.KindVPC, body, key)
	id, _ := first.body["id"].(string)
	if first.status != 201 || id == "" || first.header.Get(mycloud.HeaderIdempotentReplayed) != "" {
		t.Fatalf("first create: HTTP %d %v %v", first.status, first.header, first.body)
	}

	// The same attributes in another order and spacing: the same request.
	replay := post(t, e.url, testKey, testSecret, mycloud.KindVPC, `{"tags": {"b":"2","a":"1"}, "cidr":"10.0.0.0/16", "name":"main"}`, `"`+key+`"`)
	if replay.status != 201 || replay.body["id"] != id || replay.header.Get(mycloud.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("replay: want 201 with %s and Idempotent-Replayed: true, got HTTP %d %v %v", id, replay.status, replay.header, replay.body)
	}
	if replay.body["status"] != mycloud.StatusCreating {
		t.Fatalf("a replay answers with the resource as it is now, creating; got %v", replay.body["status"])
	}
	if n := countVPCs(t, e.cli); n != 1 {
		t.Fatalf("after a replay: %d VPCs, want 1", n)
	}

	for name, tc := range map[string]struct{ kind, body, want string }{
		"other body": {mycloud.KindVPC, `{"name":"main","cidr":"10.1.0.0/16"}`, "with different parameters"},
		"other kind": {mycloud.KindBucket, `{"name":"main-bucket"}`, "(vpcs, not buckets)"},
	} {
		t.Run(name, func(t *testing.T) {
			a := post(t, e.url, testKey, testSecret, tc.kind, tc.body, key)
			msg := a.errorField("message")
			if a.status != http.StatusUnprocessableEntity || a.errorField("code") != mycloud.CodeIdempotencyKeyReused || a.errorField("resource_id") != id {
				t.Fatalf("want 422 %s naming %s, got HTTP %d %v", mycloud.CodeIdempotencyKeyReused, id, a.status, a.body)
			}
			for _, want := range []string{"was used to create vpcs " + id, tc.want, "import " + id + " or delete it"} {
				if !strings.Contains(msg, want) {
					t.Fatalf("message %q does not say %q", msg, want)
				}
			}
		})
	}
	if n := countVPCs(t, e.cli); n != 1 {
		t.Fatalf("after refused reuses: %d VPCs, want 1", n)
	}

	// The client's view of the same: the key, the replay flag, the error.
	obj, replayed, err := e.cli.CreateWithKey(context.Background(), mycloud.KindVPC, key, map[string]any{"name": "main", "cidr": "10.0.0.0/16", "tags": map[string]string{"a": "1", "b": "2"}})
	if err != nil || !replayed || obj.String("id") != id {
		t.Fatalf("client replay: %v %v %v", obj, replayed, err)
	}
	_, _, err = e.cli.CreateWithKey(context.Background(), mycloud.KindVPC, key, map[string]any{"name": "main", "cidr": "10.2.0.0/16"})
	if apiE, ok := client.IsIdempotencyKeyReused(err); !ok || apiE.ResourceID != id {
		t.Fatalf("client reuse: want IdempotencyKeyReused naming %s, got %v", id, err)
	}

	// The request log tells a replay from a create, and an aborted call
	// from an answered one.
	var replays, creates int
	for _, entry := range requestLog(t, e) {
		if entry.Method != http.MethodPost || entry.IdempotencyKey != key {
			continue
		}
		switch {
		case entry.Replayed && entry.Status == 201:
			replays++
		case entry.Status == 201:
			creates++
		}
	}
	if creates != 1 || replays != 2 {
		t.Fatalf("request log: %d creates and %d replays with the key, want 1 and 2", creates, replays)
	}
	if !strings.Contains(e.logs.String(), `"replayed":true`) {
		t.Fatal("the access log does not mark the replay")
	}

	// Deleted: the key is free again, and makes a new VPC.
	if err := e.cli.Delete(context.Background(), mycloud.KindVPC, id); err != nil {
		t.Fatal(err)
	}
	again := post(t, e.url, testKey, testSecret, mycloud.KindVPC, `{"name":"main","cidr":"10.1.0.0/16"}`, key)
	if again.status != 201 || again.body["id"] == id || again.header.Get(mycloud.HeaderIdempotentReplayed) != "" {
		t.Fatalf("create after delete: want a new VPC, got HTTP %d %v %v", again.status, again.header, again.body)
	}
}

// TestIdempotencyKeysPerAccessKey: one tenant's key never answers another's
// create.
func TestIdempotencyKeysPerAccessKey(t *testing.T) {
	store, err := mycloud.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	creds := map[string]string{"AKTENANTA": "secret-a", "AKTENANTB": "secret-b"}
	hs := httptest.NewServer(mycloud.NewServer(store, mycloud.Config{Credentials: creds}))
	t.Cleanup(hs.Close)
	const body = `{"name":"main","cidr":"10.0.0.0/16"}`
	a := post(t, hs.URL, "AKTENANTA", "secret-a", mycloud.KindVPC, body, "shared-key")
	b := post(t, hs.URL, "AKTENANTB", "secret-b", mycloud.KindVPC, body, "shared-key")
	if a.status != 201 || b.status != 201 || a.body["id"] == b.body["id"] || b.header.Get(mycloud.HeaderIdempotentReplayed) != "" {
		t.Fatalf("two tenants, one key: want two VPCs, got %v and %v (replayed %q)", a.body, b.body, b.header.Get(mycloud.HeaderIdempotentReplayed))
	}
	// And tenant B's other body is not refused on account of tenant A's.
	if c := post(t, hs.URL, "AKTENANTB", "secret-b", mycloud.KindVPC, body, "shared-key"); c.body["id"] != b.body["id"] {
		t.Fatalf("tenant B's replay answered %v, want its own %v", c.body["id"], b.body["id"])
	}
}

// TestIdempotencyKeysSurviveRestart: keys are in the store, committed with
// the resource, so a restarted (or killed) cloud still replays.
func TestIdempotencyKeysSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	creds := map[string]string{testKey: testSecret}
	store, err := mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mycloud.NewServer(store, mycloud.Config{Credentials: creds}))
	const body = `{"name":"main","cidr":"10.0.0.0/16"}`
	first := post(t, hs.URL, testKey, testSecret, mycloud.KindVPC, body, "kept-key")
	hs.Close()
	store.Close()

	store, err = mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hs = httptest.NewServer(mycloud.NewServer(store, mycloud.Config{Credentials: creds}))
	defer hs.Close()
	again := post(t, hs.URL, testKey, testSecret, mycloud.KindVPC, body, "kept-key")
	if again.body["id"] != first.body["id"] || again.header.Get(mycloud.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("after restart: want a replay of %v, got HTTP %d %v", first.body["id"], again.status, again.body)
	}
}

// TestIdempotencyKeyExpires: after the TTL the key is forgotten.
func TestIdempotencyKeyExpires(t *testing.T) {
	store, err := mycloud.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	creds := map[string]string{testKey: testSecret}
	hs := httptest.NewServer(mycloud.NewServer(store, mycloud.Config{Credentials: creds, IdempotencyTTL: 300 * time.Millisecond}))
	t.Cleanup(hs.Close)
	const body = `{"name":"main","cidr":"10.0.0.0/16"}`
	first := post(t, hs.URL, testKey, testSecret, mycloud.KindVPC, body, "short-lived")
	if replay := post(t, hs.URL, testKey, testSecret, mycloud.KindVPC, body, "short-lived"); replay.body["id"] != first.body["id"] {
		t.Fatalf("within the TTL: want a replay of %v, got %v", first.body["id"], replay.body)
	}
	time.Sleep(400 * time.Millisecond)
	if later := post(t, hs.URL, testKey, testSecret, mycloud.KindVPC, body, "short-lived"); later.status != 201 || later.body["id"] == first.body["id"] {
		t.Fatalf("after the TTL: want a new VPC, got HTTP %d %v", later.status, later.body)
	}
}

// TestConcurrentCreatesWithOneKey: calls racing with one key create once.
func TestConcurrentCreatesWithOneKey(t *testing.T) {
	e := newEnv(t, 0)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[any]int{}
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, _, err := e.cli.CreateWithKey(context.Background(), mycloud.KindVPC, "racing-key", map[string]any{"name": "main", "cidr": "10.0.0.0/16"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids[obj["id"]]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ids) != 1 || countVPCs(t, e.cli) != 1 {
		t.Fatalf("8 racing creates with one key answered ids %v and made %d VPCs, want 1", ids, countVPCs(t, e.cli))
	}
}

// TestAbortedRequestIsNotLoggedAs200: a call whose client leaves while a
// latency fault holds it is logged as 499 and creates nothing.
func TestAbortedRequestIsNotLoggedAs200(t *testing.T) {
	e := newEnv(t, 0)
	if code, out := e.admin(t, http.MethodPost, "/admin/v1/faults", map[string]any{"method": "POST", "path": "/v1/vpcs", "latency_ms": 2000, "count": 1}); code != 201 {
		t.Fatalf("add fault: %d %v", code, out)
	}
	e.cli.MaxAttempts = 1
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := e.cli.Create(ctx, mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"}); err == nil {
		t.Fatal("create outlasting its context succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, entry := range requestLog(t, e) {
			if entry.Method != http.MethodPost {
				continue
			}
			if entry.Status != mycloud.StatusClientClosedRequest || entry.Fault == "" || entry.IdempotencyKey == "" {
				t.Fatalf("aborted POST logged as %+v, want status 499 with its fault and key", entry)
			}
			if n := countVPCs(t, e.cli); n != 0 {
				t.Fatalf("aborted POST made %d VPCs", n)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the aborted POST never reached the request log")
}
