package mycloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vela-infra/vela-infra/internal/mycloud"
	"github.com/vela-infra/vela-infra/internal/mycloud/auth"
	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

const (
	testKey    = "AKTEST"
	testSecret = "sentinel-secret-key-4f1c"
	testAdmin  = "sentinel-admin-token-9b2e"
	testPass   = "Sentinel-Passw0rd-77aa"
)

type env struct {
	url   string
	cli   *client.Client
	srv   *mycloud.Server
	store *mycloud.Store
	logs  *bytes.Buffer
}

func newEnv(t *testing.T, delay time.Duration) *env {
	t.Helper()
	store, err := mycloud.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	srv := mycloud.NewServer(store, mycloud.Config{
		Credentials: map[string]string{testKey: testSecret},
		AdminToken:  testAdmin,
		CreateDelay: delay,
		Logger:      slog.New(slog.NewJSONHandler(logs, nil)),
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); store.Close() })
	cli := client.New(hs.URL, testKey, testSecret)
	cli.MinBackoff = 10 * time.Millisecond
	cli.MaxBackoff = 50 * time.Millisecond
	return &env{url: hs.URL, cli: cli, srv: srv, store: store, logs: logs}
}

func (e *env) admin(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func mustCreate(t *testing.T, e *env, kind string, attrs map[string]any) client.Object {
	t.Helper()
	obj, err := e.cli.Create(context.Background(), kind, attrs)
	if err != nil {
		t.Fatalf("create %s: %v", kind, err)
	}
	return obj
}

// apiErr asserts err is an API error with the status and field.
func apiErr(t *testing.T, err error, status int, field string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want API error %d on %q, got %v", status, field, err)
	}
	if e.Status != status || e.Field != field {
		t.Fatalf("want HTTP %d naming field %q, got HTTP %d field %q: %s", status, field, e.Status, e.Field, e.Message)
	}
	if field != "" && !strings.Contains(e.Message, field) {
		t.Fatalf("message %q does not name the field %q", e.Message, field)
	}
}

func TestCRUDEveryKind(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	vpc := mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16", "tags": map[string]string{"team": "a"}})
	subnet := mustCreate(t, e, mycloud.KindSubnet, map[string]any{"name": "app", "vpc_id": vpc.String("id"), "cidr": "10.0.1.0/24"})
	cases := []struct {
		kind     string
		create   map[string]any
		update   map[string]any
		defaults map[string]any
	}{
		{mycloud.KindVPC, map[string]any{"name": "other", "cidr": "10.1.0.0/16"}, map[string]any{"name": "renamed"}, map[string]any{"cidr": "10.1.0.0/16"}},
		{mycloud.KindSubnet, map[string]any{"name": "db", "vpc_id": vpc.String("id"), "cidr": "10.0.2.0/24"}, map[string]any{"tags": map[string]string{"x": "y"}}, map[string]any{"zone": "zone-a"}},
		{mycloud.KindMySQL, map[string]any{"name": "orders", "subnet_id": subnet.String("id"), "admin_password": testPass}, map[string]any{"storage_gib": 40}, map[string]any{"engine_version": "8.0", "instance_class": "db.small", "storage_gib": float64(20), "port": float64(3306)}},
		{mycloud.KindRedis, map[string]any{"name": "cache", "subnet_id": subnet.String("id"), "password": testPass}, map[string]any{"memory_mib": 2048}, map[string]any{"version": "7.0", "memory_mib": float64(1024)}},
		{mycloud.KindBucket, map[string]any{"name": "assets.example"}, map[string]any{"acl": "public-read", "versioning": true}, map[string]any{"acl": "private", "versioning": false}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			obj := mustCreate(t, e, tc.kind, tc.create)
			id := obj.String("id")
			if !strings.HasPrefix(id, strings.TrimSuffix(strings.SplitN(tc.kind, "-", 2)[0], "s")) {
				t.Errorf("id %q has no prefix of kind %s", id, tc.kind)
			}
			for k, want := range tc.defaults {
				if obj[k] != want {
					t.Errorf("%s = %v, want server default %v", k, obj[k], want)
				}
			}
			for _, secret := range []string{"admin_password", "password"} {
				if _, ok := obj[secret]; ok {
					t.Errorf("write-only %s returned", secret)
				}
			}
			updated, err := e.cli.Update(ctx, tc.kind, id, tc.update)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.update {
				got, _ := json.Marshal(updated[k])
				want, _ := json.Marshal(v)
				if string(got) != string(want) {
					t.Errorf("after update %s = %s, want %s", k, got, want)
				}
			}
			listed, err := e.cli.List(ctx, tc.kind, url.Values{"name": {updated.String("name")}})
			if err != nil || len(listed) != 1 || listed[0].String("id") != id {
				t.Fatalf("list by name: %v %v", listed, err)
			}
			if err := e.cli.Delete(ctx, tc.kind, id); err != nil {
				t.Fatal(err)
			}
			if _, err := e.cli.Get(ctx, tc.kind, id); !client.IsNotFound(err) {
				t.Fatalf("get after delete: want 404, got %v", err)
			}
		})
	}
	if strings.Contains(e.logs.String(), testSecret) || strings.Contains(e.logs.String(), testPass) {
		t.Fatal("a secret reached the log")
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	vpc := mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"})
	subnet := mustCreate(t, e, mycloud.KindSubnet, map[string]any{"name": "app", "vpc_id": vpc.String("id"), "cidr": "10.0.1.0/24"})
	mustCreate(t, e, mycloud.KindBucket, map[string]any{"name": "taken"})
	mysql := func(extra map[string]any) map[string]any {
		m := map[string]any{"name": "db", "subnet_id": subnet.String("id"), "admin_password": testPass}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := map[string]struct {
		kind   string
		attrs  map[string]any
		status int
		field  string
	}{
		"unknown field":          {mycloud.KindVPC, map[string]any{"name": "x1", "cidr": "10.2.0.0/16", "colour": "red"}, 400, "colour"},
		"wrong type":             {mycloud.KindVPC, map[string]any{"name": 7, "cidr": "10.2.0.0/16"}, 400, "name"},
		"missing required":       {mycloud.KindVPC, map[string]any{"name": "x1"}, 400, "cidr"},
		"bad name":               {mycloud.KindVPC, map[string]any{"name": "Bad_Name", "cidr": "10.2.0.0/16"}, 400, "name"},
		"cidr not a cidr":        {mycloud.KindVPC, map[string]any{"name": "x1", "cidr": "10.2.0.0"}, 400, "cidr"},
		"cidr host bits":         {mycloud.KindVPC, map[string]any{"name": "x1", "cidr": "10.2.0.1/16"}, 400, "cidr"},
		"cidr public":            {mycloud.KindVPC, map[string]any{"name": "x1", "cidr": "8.8.0.0/16"}, 400, "cidr"},
		"subnet outside vpc":     {mycloud.KindSubnet, map[string]any{"name": "sn", "vpc_id": vpc.String("id"), "cidr": "10.9.0.0/24"}, 400, "cidr"},
		"subnet overlap":         {mycloud.KindSubnet, map[string]any{"name": "sn", "vpc_id": vpc.String("id"), "cidr": "10.0.1.128/25"}, 409, "cidr"},
		"unknown parent":         {mycloud.KindSubnet, map[string]any{"name": "sn", "vpc_id": "vpc-nope", "cidr": "10.0.3.0/24"}, 400, "vpc_id"},
		"bad zone":               {mycloud.KindSubnet, map[string]any{"name": "sn", "vpc_id": vpc.String("id"), "cidr": "10.0.3.0/24", "zone": "mars"}, 400, "zone"},
		"unknown zone":           {mycloud.KindSubnet, map[string]any{"name": "sn", "vpc_id": vpc.String("id"), "cidr": "10.0.3.0/24", "zone": "zone-z"}, 400, "zone"},
		"storage too small":      {mycloud.KindMySQL, mysql(map[string]any{"storage_gib": 5}), 400, "storage_gib"},
		"storage not integer":    {mycloud.KindMySQL, mysql(map[string]any{"storage_gib": 20.5}), 400, "storage_gib"},
		"engine not in enum":     {mycloud.KindMySQL, mysql(map[string]any{"engine_version": "9.9"}), 400, "engine_version"},
		"weak password":          {mycloud.KindMySQL, mysql(map[string]any{"admin_password": "short"}), 400, "admin_password"},
		"redis memory step":      {mycloud.KindRedis, map[string]any{"name": "cache", "subnet_id": subnet.String("id"), "password": testPass, "memory_mib": 300}, 400, "memory_mib"},
		"bucket name taken":      {mycloud.KindBucket, map[string]any{"name": "taken"}, 409, "name"},
		"bucket bad name":        {mycloud.KindBucket, map[string]any{"name": "-x"}, 400, "name"},
		"bucket acl not in enum": {mycloud.KindBucket, map[string]any{"name": "fine", "acl": "world"}, 400, "acl"},
		"too many tags": {mycloud.KindBucket, map[string]any{"name": "fine", "tags": func() map[string]string {
			m := map[string]string{}
			for i := range 51 {
				m[string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
			}
			return m
		}()}, 400, "tags"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.cli.Create(ctx, tc.kind, tc.attrs)
			apiErr(t, err, tc.status, tc.field)
		})
	}
	t.Run("unknown zone: the message lists the zones; nothing created", func(t *testing.T) {
		_, err := e.cli.Create(ctx, mycloud.KindSubnet, map[string]any{"name": "in-z", "vpc_id": vpc.String("id"), "cidr": "10.0.4.0/24", "zone": "zone-z"})
		apiErr(t, err, 400, "zone")
		const want = `zone "zone-z" is not a mycloud zone: use one of zone-a, zone-b, zone-c`
		if got := err.Error(); !strings.Contains(got, want) {
			t.Errorf("error %q, want it to contain %q", got, want)
		}
		listed, err := e.cli.List(ctx, mycloud.KindSubnet, url.Values{"name": {"in-z"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 0 {
			t.Errorf("a subnet was created in an unknown zone: %v", listed)
		}
	})
	t.Run("immutable update", func(t *testing.T) {
		_, err := e.cli.Update(ctx, mycloud.KindVPC, vpc.String("id"), map[string]any{"cidr": "10.5.0.0/16"})
		apiErr(t, err, 400, "cidr")
	})
	t.Run("delete vpc with subnets", func(t *testing.T) {
		err := e.cli.Delete(ctx, mycloud.KindVPC, vpc.String("id"))
		apiErr(t, err, 409, "")
	})
	t.Run("bad list filter", func(t *testing.T) {
		_, err := e.cli.List(ctx, mycloud.KindVPC, url.Values{"colour": {"red"}})
		apiErr(t, err, 400, "colour")
	})
	t.Run("malformed json", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/vpcs", strings.NewReader("{"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("unsigned request: want 401, got %d", resp.StatusCode)
		}
	})
}

// TestListNamePrefix: ?name_prefix= keeps the records whose name starts
// with it, together with the other filters; a prefix no name can start
// with is a 400 naming the parameter, not an empty list.
func TestListNamePrefix(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	for i, vpc := range []struct{ name, team string }{
		{"shop-web", "a"}, {"shop-db", "b"}, {"shopping", "a"}, {"other-shop", "a"},
	} {
		mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": vpc.name, "cidr": fmt.Sprintf("10.%d.0.0/16", i), "tags": map[string]string{"team": vpc.team}})
	}
	mustCreate(t, e, mycloud.KindBucket, map[string]any{"name": "shop.assets"})
	mustCreate(t, e, mycloud.KindBucket, map[string]any{"name": "shopassets"})

	cases := map[string]struct {
		kind  string
		query url.Values
		want  []string
	}{
		"prefix":                  {mycloud.KindVPC, url.Values{"name_prefix": {"shop-"}}, []string{"shop-db", "shop-web"}},
		"prefix and tag":          {mycloud.KindVPC, url.Values{"name_prefix": {"shop-"}, "tag.team": {"a"}}, []string{"shop-web"}},
		"prefix and exact name":   {mycloud.KindVPC, url.Values{"name_prefix": {"shop"}, "name": {"shopping"}}, []string{"shopping"}},
		"whole name":              {mycloud.KindVPC, url.Values{"name_prefix": {"shopping"}}, []string{"shopping"}},
		"given twice: both apply": {mycloud.KindVPC, url.Values{"name_prefix": {"shop", "shop-w"}}, []string{"shop-web"}},
		"no match is no error":    {mycloud.KindVPC, url.Values{"name_prefix": {"zz"}}, nil},
		"bucket prefix with dot":  {mycloud.KindBucket, url.Values{"name_prefix": {"shop."}}, []string{"shop.assets"}},
		"bucket prefix, no dot":   {mycloud.KindBucket, url.Values{"name_prefix": {"shopa"}}, []string{"shopassets"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			items, err := e.cli.List(ctx, tc.kind, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.String("name"))
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("names (-want +got):\n%s", diff)
			}
		})
	}

	bad := map[string]struct {
		kind, prefix string
	}{
		"empty":                    {mycloud.KindVPC, ""},
		"longer than a name":       {mycloud.KindVPC, strings.Repeat("a", 64)},
		"upper case":               {mycloud.KindVPC, "Shop"},
		"underscore":               {mycloud.KindVPC, "shop_"},
		"dot in a vpc name":        {mycloud.KindVPC, "shop."},
		"names start with letters": {mycloud.KindSubnet, "1a"},
		"space":                    {mycloud.KindMySQL, "shop web"},
		"bucket upper case":        {mycloud.KindBucket, "Shop"},
		"secrets have no name":     {mycloud.KindSecret, "secret"},
	}
	for name, tc := range bad {
		t.Run("bad/"+name, func(t *testing.T) {
			_, err := e.cli.List(ctx, tc.kind, url.Values{"name_prefix": {tc.prefix}})
			apiErr(t, err, http.StatusBadRequest, "name_prefix")
		})
	}
	t.Run("63 characters is a name's length", func(t *testing.T) {
		if _, err := e.cli.List(ctx, mycloud.KindVPC, url.Values{"name_prefix": {strings.Repeat("a", 63)}}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestContentType checks that a body not declared as JSON is refused with 415
// and an error naming the header, on the API and on the admin API.
func TestContentType(t *testing.T) {
	e := newEnv(t, 0)
	vpc := mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"})
	const vpcBody = `{"name":"other","cidr":"10.1.0.0/16"}`
	cases := map[string]struct {
		method, path, contentType, body string
		admin                           bool
		want                            int
	}{
		"api post form":         {http.MethodPost, "/v1/vpcs", "application/x-www-form-urlencoded", vpcBody, false, 415},
		"api post no header":    {http.MethodPost, "/v1/vpcs", "", vpcBody, false, 415},
		"api post text":         {http.MethodPost, "/v1/vpcs", "text/plain", vpcBody, false, 415},
		"api patch form":        {http.MethodPatch, "/v1/vpcs/" + vpc.String("id"), "application/x-www-form-urlencoded", `{"name":"x"}`, false, 415},
		"api post json charset": {http.MethodPost, "/v1/vpcs", "application/json; charset=utf-8", vpcBody, false, 201},
		"admin post form":       {http.MethodPost, "/admin/v1/faults", "application/x-www-form-urlencoded", `{"path":"/v1/","latency_ms":1}`, true, 415},
		"admin patch no header": {http.MethodPatch, "/admin/v1/resources/vpcs/" + vpc.String("id"), "", `{"name":"y"}`, true, 415},
		"admin post no body":    {http.MethodPost, "/admin/v1/reset", "", "", true, 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.url+tc.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.admin {
				req.Header.Set("Authorization", "Bearer "+testAdmin)
			} else {
				auth.Sign(req, []byte(tc.body), testKey, testSecret, time.Now())
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("HTTP %d: body is not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("want HTTP %d, got %d: %+v", tc.want, resp.StatusCode, out.Error)
			}
			if tc.want != 415 {
				return
			}
			if out.Error.Code != "UnsupportedMediaType" || !strings.Contains(out.Error.Message, "Content-Type: application/json") {
				t.Fatalf("415 error does not name the header: %+v", out.Error)
			}
			if tc.contentType != "" && !strings.Contains(out.Error.Message, tc.contentType) {
				t.Fatalf("415 error does not say what was sent (%q): %s", tc.contentType, out.Error.Message)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, 0)
	for name, cli := range map[string]*client.Client{
		"wrong secret": client.New(e.url, testKey, "not-the-secret"),
		"unknown key":  client.New(e.url, "AKNOPE", testSecret),
		"no key":       client.New(e.url, "", ""),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cli.List(context.Background(), mycloud.KindVPC, nil)
			apiErr(t, err, 401, "")
		})
	}
	code, _ := e.admin(t, http.MethodGet, "/admin/v1/requests", nil)
	if code != 200 {
		t.Fatalf("admin with token: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/admin/v1/requests", nil)
	req.Header.Set("Authorization", "Bearer "+testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("admin API with an API secret: want 401, got %d", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), testSecret) || strings.Contains(e.logs.String(), "not-the-secret") {
		t.Fatal("a secret reached the log")
	}
}

func TestAsyncCreation(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	ctx := context.Background()
	vpc := mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": "slow", "cidr": "10.0.0.0/16"})
	if got := vpc.String("status"); got != mycloud.StatusCreating {
		t.Fatalf("new resource status %q, want creating", got)
	}
	if _, err := e.cli.Update(ctx, mycloud.KindVPC, vpc.String("id"), map[string]any{"name": "x2"}); err == nil {
		t.Fatal("update of a creating resource succeeded; want 409")
	}
	obj, err := e.cli.WaitAvailable(ctx, mycloud.KindVPC, vpc.String("id"))
	if err != nil || obj.String("status") != mycloud.StatusAvailable {
		t.Fatalf("wait: %v %v", obj, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	vpc2 := mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": "slower", "cidr": "10.1.0.0/16"})
	e.srv.Reset()
	start := time.Now()
	_, err = e.cli.WaitAvailable(ctx, mycloud.KindVPC, vpc2.String("id"))
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("wait after cancel: err %v after %s", err, time.Since(start))
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	store, err := mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := mycloud.NewServer(store, mycloud.Config{Credentials: map[string]string{testKey: testSecret}})
	hs := httptest.NewServer(srv)
	cli := client.New(hs.URL, testKey, testSecret)
	vpc, err := cli.Create(context.Background(), mycloud.KindVPC, map[string]any{"name": "kept", "cidr": "10.0.0.0/16", "tags": map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()
	store.Close()

	store, err = mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hs = httptest.NewServer(mycloud.NewServer(store, mycloud.Config{Credentials: map[string]string{testKey: testSecret}}))
	defer hs.Close()
	got, err := client.New(hs.URL, testKey, testSecret).Get(context.Background(), mycloud.KindVPC, vpc.String("id"))
	if err != nil {
		t.Fatal(err)
	}
	if got.String("cidr") != "10.0.0.0/16" || got.Tags()["a"] != "b" {
		t.Fatalf("after restart: %v", got)
	}
}

func TestFaultInjection(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	code, f := e.admin(t, http.MethodPost, "/admin/v1/faults", map[string]any{"method": "POST", "path": "/v1/vpcs", "status": 429, "retry_after_seconds": 1, "count": 2})
	if code != 201 {
		t.Fatalf("add fault: %d %v", code, f)
	}
	e.cli.MaxBackoff = 2 * time.Second
	start := time.Now()
	if _, err := e.cli.Create(ctx, mycloud.KindVPC, map[string]any{"name": "retried", "cidr": "10.0.0.0/16"}); err != nil {
		t.Fatalf("create through two 429s: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("client did not honour Retry-After: done in %s", d)
	}
	_, log := e.admin(t, http.MethodGet, "/admin/v1/requests", nil)
	var statuses []float64
	for _, item := range log["items"].([]any) {
		statuses = append(statuses, item.(map[string]any)["status"].(float64))
	}
	if len(statuses) != 3 || statuses[0] != 429 || statuses[1] != 429 || statuses[2] != 201 {
		t.Fatalf("request log statuses %v, want [429 429 201]", statuses)
	}

	e.admin(t, http.MethodPost, "/admin/v1/faults", map[string]any{"path": "/v1/buckets", "status": 503})
	_, err := e.cli.List(ctx, mycloud.KindBucket, nil)
	var apiE *client.Error
	if !errors.As(err, &apiE) || apiE.Status != 503 || !strings.Contains(err.Error(), "giving up after") {
		t.Fatalf("persistent 503: want give-up error, got %v", err)
	}
	e.admin(t, http.MethodDelete, "/admin/v1/faults", nil)
	e.admin(t, http.MethodPost, "/admin/v1/faults", map[string]any{"path": "/v1/buckets", "latency_ms": 200, "count": 1})
	start = time.Now()
	if _, err := e.cli.List(ctx, mycloud.KindBucket, nil); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("latency fault: %v after %s", err, time.Since(start))
	}

	for name, bad := range map[string]map[string]any{
		"path":   {"path": "/elsewhere", "status": 500},
		"status": {"path": "/v1/vpcs", "status": 404},
		"rate":   {"path": "/v1/vpcs", "status": 500, "rate": 2},
		"effect": {"path": "/v1/vpcs"},
	} {
		code, body := e.admin(t, http.MethodPost, "/admin/v1/faults", bad)
		if code != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), name) {
			t.Errorf("bad fault %s: %d %v", name, code, body)
		}
	}
}

func TestSeedAndOutOfBandEdit(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	code, out := e.admin(t, http.MethodPost, "/admin/v1/seed", map[string]any{
		"vpcs":    []map[string]any{{"id": "vpc-legacy01", "name": "legacy", "cidr": "10.10.0.0/16"}},
		"subnets": []map[string]any{{"name": "legacy-a", "vpc_id": "vpc-legacy01", "cidr": "10.10.1.0/24"}},
	})
	if code != 201 {
		t.Fatalf("seed: %d %v", code, out)
	}
	vpc, err := e.cli.Get(ctx, mycloud.KindVPC, "vpc-legacy01")
	if err != nil || vpc.String("status") != mycloud.StatusAvailable {
		t.Fatalf("seeded vpc is not available at once: %v %v", vpc, err)
	}
	code, out = e.admin(t, http.MethodPost, "/admin/v1/seed", map[string]any{"vpcs": []map[string]any{{"id": "vpc-legacy01", "name": "dup", "cidr": "10.11.0.0/16"}}})
	if code != 409 {
		t.Fatalf("seed of an existing id: want 409, got %d %v", code, out)
	}
	code, out = e.admin(t, http.MethodPatch, "/admin/v1/resources/vpcs/vpc-legacy01", map[string]any{"tags": map[string]string{"owner": "console"}, "cidr": "10.10.0.0/17"})
	if code != 200 {
		t.Fatalf("out-of-band edit: %d %v", code, out)
	}
	vpc, _ = e.cli.Get(ctx, mycloud.KindVPC, "vpc-legacy01")
	if vpc.Tags()["owner"] != "console" || vpc.String("cidr") != "10.10.0.0/17" {
		t.Fatalf("edit not visible through the API: %v", vpc)
	}
	code, _ = e.admin(t, http.MethodPatch, "/admin/v1/resources/vpcs/vpc-legacy01", map[string]any{"cidr": "nonsense"})
	if code != 400 {
		t.Fatalf("out-of-band edit with a bad value: want 400, got %d", code)
	}
	if code, _ := e.admin(t, http.MethodPost, "/admin/v1/reset", nil); code != 200 {
		t.Fatal("reset failed")
	}
	if _, err := e.cli.Get(ctx, mycloud.KindVPC, "vpc-legacy01"); !client.IsNotFound(err) {
		t.Fatalf("after reset: %v", err)
	}
}

// TestManagedPasswords: a MySQL or Redis instance created with
// manage_admin_password / manage_password gets a password the cloud
// generates and keeps as a secret; the instance shows only the secret's id,
// the value comes back only from GET /v1/secrets/<id>/value, and the secret
// goes with its instance.
func TestManagedPasswords(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	vpc := mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"})
	subnet := mustCreate(t, e, mycloud.KindSubnet, map[string]any{"name": "app", "vpc_id": vpc.String("id"), "cidr": "10.0.1.0/24"})
	cases := []struct {
		kind, flag, password, secretID string
	}{
		{mycloud.KindMySQL, "manage_admin_password", "admin_password", "admin_password_secret_id"},
		{mycloud.KindRedis, "manage_password", "password", "password_secret_id"},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			obj := mustCreate(t, e, tc.kind, map[string]any{"name": "managed", "subnet_id": subnet.String("id"), tc.flag: true})
			id, secretID := obj.String("id"), obj.String(tc.secretID)
			if !obj.Bool(tc.flag) || !strings.HasPrefix(secretID, "secret-") {
				t.Fatalf("%s = %v, %s = %q: want true and a secret id", tc.flag, obj[tc.flag], tc.secretID, secretID)
			}
			if _, ok := obj[tc.password]; ok {
				t.Fatalf("the instance shows %s", tc.password)
			}
			value, err := e.cli.SecretValue(ctx, secretID)
			if err != nil {
				t.Fatal(err)
			}
			if err := rules.Password(value); err != nil {
				t.Fatalf("the generated password breaks the password policy: %v", err)
			}
			other := mustCreate(t, e, tc.kind, map[string]any{"name": "managed-2", "subnet_id": subnet.String("id"), tc.flag: true})
			if v2, _ := e.cli.SecretValue(ctx, other.String(tc.secretID)); v2 == value {
				t.Fatal("two instances got the same password")
			}

			secret, err := e.cli.Get(ctx, mycloud.KindSecret, secretID)
			if err != nil {
				t.Fatal(err)
			}
			if secret.String("owner_id") != id || secret.String("owner_kind") != tc.kind || secret.String("owner_attribute") != tc.password {
				t.Errorf("secret %v does not name its owner %s %s", secret, tc.kind, id)
			}
			owned, err := e.cli.List(ctx, mycloud.KindSecret, url.Values{"owner_id": {id}})
			if err != nil || len(owned) != 1 || owned[0].String("id") != secretID {
				t.Errorf("list secrets by owner_id: %v %v", owned, err)
			}

			// Not settable, not changeable, not deletable on their own.
			_, err = e.cli.Update(ctx, tc.kind, id, map[string]any{tc.password: testPass})
			apiErr(t, err, 400, tc.password)
			_, err = e.cli.Update(ctx, tc.kind, id, map[string]any{tc.flag: false})
			apiErr(t, err, 400, tc.flag)
			_, err = e.cli.Update(ctx, tc.kind, id, map[string]any{tc.secretID: "secret-00000000"})
			apiErr(t, err, 400, tc.secretID)
			if _, err := e.cli.Update(ctx, tc.kind, id, map[string]any{tc.flag: true, "tags": map[string]string{"a": "b"}}); err != nil {
				t.Errorf("an update that repeats the flag: %v", err)
			}
			for _, call := range []func() error{
				func() error {
					_, err := e.cli.Create(ctx, mycloud.KindSecret, map[string]any{"owner_id": id})
					return err
				},
				func() error {
					_, err := e.cli.Update(ctx, mycloud.KindSecret, secretID, map[string]any{"owner_id": "x"})
					return err
				},
				func() error { return e.cli.Delete(ctx, mycloud.KindSecret, secretID) },
			} {
				apiErr(t, call(), 405, "")
			}
			if code, _ := e.admin(t, http.MethodPatch, "/admin/v1/resources/"+tc.kind+"/"+id, map[string]any{tc.flag: false}); code != 400 {
				t.Errorf("out-of-band edit of %s: want 400, got %d", tc.flag, code)
			}
			if code, _ := e.admin(t, http.MethodPatch, "/admin/v1/resources/secrets/"+secretID, map[string]any{"owner_id": "x"}); code != 405 {
				t.Errorf("out-of-band edit of a secret: want 405, got %d", code)
			}

			// The value is nowhere else: not in the gets and lists of any
			// kind, the request log, the access log.
			var seen strings.Builder
			for _, kind := range mycloud.Kinds {
				items, err := e.cli.List(ctx, kind, nil)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := json.Marshal(items)
				seen.Write(data)
			}
			for _, get := range [][2]string{{tc.kind, id}, {mycloud.KindSecret, secretID}} {
				obj, _ := e.cli.Get(ctx, get[0], get[1])
				data, _ := json.Marshal(obj)
				seen.Write(data)
			}
			_, log := e.admin(t, http.MethodGet, "/admin/v1/requests", nil)
			data, _ := json.Marshal(log)
			seen.Write(data)
			seen.WriteString(e.logs.String())
			if strings.Contains(seen.String(), value) {
				t.Fatal("the password is in a get, a list or a log")
			}

			// Deleted with the instance.
			if err := e.cli.Delete(ctx, tc.kind, id); err != nil {
				t.Fatal(err)
			}
			if _, err := e.cli.Get(ctx, mycloud.KindSecret, secretID); !client.IsNotFound(err) {
				t.Errorf("the secret outlives its instance: %v", err)
			}
			if _, err := e.cli.SecretValue(ctx, secretID); !client.IsNotFound(err) {
				t.Errorf("the value of a deleted secret: want 404, got %v", err)
			}
		})
	}

	t.Run("exactly one of the password and the flag", func(t *testing.T) {
		for name, tc := range map[string]struct {
			kind  string
			attrs map[string]any
			field string
			// namesBoth: the message names the password and the flag.
			namesBoth bool
		}{
			"mysql neither":          {mycloud.KindMySQL, map[string]any{}, "admin_password", true},
			"mysql flag false":       {mycloud.KindMySQL, map[string]any{"manage_admin_password": false}, "admin_password", true},
			"mysql both":             {mycloud.KindMySQL, map[string]any{"admin_password": testPass, "manage_admin_password": true}, "manage_admin_password", true},
			"redis neither":          {mycloud.KindRedis, map[string]any{}, "password", true},
			"redis both":             {mycloud.KindRedis, map[string]any{"password": testPass, "manage_password": true}, "manage_password", true},
			"mysql flag not boolean": {mycloud.KindMySQL, map[string]any{"manage_admin_password": "yes"}, "manage_admin_password", false},
		} {
			t.Run(name, func(t *testing.T) {
				attrs := map[string]any{"name": "db", "subnet_id": subnet.String("id")}
				for k, v := range tc.attrs {
					attrs[k] = v
				}
				_, err := e.cli.Create(ctx, tc.kind, attrs)
				apiErr(t, err, 400, tc.field)
				if strings.Contains(err.Error(), testPass) {
					t.Fatalf("the error echoes the password: %v", err)
				}
				password, flag := "admin_password", "manage_admin_password"
				if tc.kind == mycloud.KindRedis {
					password, flag = "password", "manage_password"
				}
				if tc.namesBoth && (!strings.Contains(err.Error(), password+" ") || !strings.Contains(err.Error(), flag)) {
					t.Errorf("error %q does not name both %s and %s", err, password, flag)
				}
			})
		}
	})

	t.Run("unknown secret and unsigned requests", func(t *testing.T) {
		if _, err := e.cli.SecretValue(ctx, "secret-00000000"); !client.IsNotFound(err) {
			t.Errorf("unknown secret: want 404, got %v", err)
		}
		obj := mustCreate(t, e, mycloud.KindRedis, map[string]any{"name": "signed", "subnet_id": subnet.String("id"), "manage_password": true})
		for name, cli := range map[string]*client.Client{
			"wrong secret key": client.New(e.url, testKey, "not-the-secret"),
			"unknown key":      client.New(e.url, "AKNOPE", testSecret),
		} {
			if _, err := cli.SecretValue(ctx, obj.String("password_secret_id")); err == nil {
				t.Errorf("%s: the value was returned", name)
			}
		}
		resp, err := http.Get(e.url + "/v1/secrets/" + obj.String("password_secret_id") + "/value")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("unsigned request for a value: want 401, got %d", resp.StatusCode)
		}
	})

	t.Run("seeded managed instance and reset", func(t *testing.T) {
		code, out := e.admin(t, http.MethodPost, "/admin/v1/seed", map[string]any{
			"mysql-instances": []map[string]any{{"id": "mysql-legacy01", "name": "legacy-db", "subnet_id": subnet.String("id"), "manage_admin_password": true}},
		})
		if code != 201 {
			t.Fatalf("seed: %d %v", code, out)
		}
		db, err := e.cli.Get(ctx, mycloud.KindMySQL, "mysql-legacy01")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.cli.SecretValue(ctx, db.String("admin_password_secret_id")); err != nil {
			t.Fatalf("the seeded instance's secret: %v", err)
		}
		if code, _ := e.admin(t, http.MethodPost, "/admin/v1/seed", map[string]any{"secrets": []map[string]any{{"owner_id": "x"}}}); code != 400 {
			t.Errorf("seeding a secret: want 400, got %d", code)
		}
		e.admin(t, http.MethodPost, "/admin/v1/reset", nil)
		if items, err := e.cli.List(ctx, mycloud.KindSecret, nil); err != nil || len(items) != 0 {
			t.Errorf("after reset: %d secrets (%v)", len(items), err)
		}
	})
}

// TestManagedPasswordSurvivesRestart: the secret is in the store, like
// every resource.
func TestManagedPasswordSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	creds := mycloud.Config{Credentials: map[string]string{testKey: testSecret}}
	store, err := mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mycloud.NewServer(store, creds))
	cli := client.New(hs.URL, testKey, testSecret)
	ctx := context.Background()
	vpc, err := cli.Create(ctx, mycloud.KindVPC, map[string]any{"name": "kept", "cidr": "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := cli.Create(ctx, mycloud.KindSubnet, map[string]any{"name": "kept", "vpc_id": vpc.String("id"), "cidr": "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := cli.Create(ctx, mycloud.KindMySQL, map[string]any{"name": "kept", "subnet_id": subnet.String("id"), "manage_admin_password": true})
	if err != nil {
		t.Fatal(err)
	}
	before, err := cli.SecretValue(ctx, db.String("admin_password_secret_id"))
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()
	store.Close()

	store, err = mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hs = httptest.NewServer(mycloud.NewServer(store, creds))
	defer hs.Close()
	after, err := client.New(hs.URL, testKey, testSecret).SecretValue(ctx, db.String("admin_password_secret_id"))
	if err != nil || after != before {
		t.Fatalf("after restart the value differs or is gone (%v)", err)
	}
}
