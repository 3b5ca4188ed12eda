package mycloud_test

import (
	"context"
	"encoding/json"
	"errors"
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
)

// newKey makes a key scoped to project with the admin API.
func (e *env) newKey(t *testing.T, project string) mycloud.AccessKey {
	t.Helper()
	code, out := e.admin(t, http.MethodPost, "/admin/v1/access-keys", map[string]any{"project": project})
	if code != http.StatusCreated {
		t.Fatalf("create an access key for %s: HTTP %d %v", project, code, out)
	}
	var key mycloud.AccessKey
	data, _ := json.Marshal(out)
	if err := json.Unmarshal(data, &key); err != nil {
		t.Fatal(err)
	}
	return key
}

// scopedClient returns a client signing with a new key scoped to project.
func (e *env) scopedClient(t *testing.T, project string) *client.Client {
	t.Helper()
	key := e.newKey(t, project)
	cli := client.New(e.url, key.AccessKey, key.SecretKey)
	cli.MinBackoff, cli.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	return cli
}

// call sends a request signed by cli's key and returns the raw answer
// (client.Delete hides a 404, which these tests look at).
func call(t *testing.T, cli *client.Client, method, path string, body any) answer {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, cli.Endpoint+path, strings.NewReader(string(data)))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	auth.Sign(req, data, cli.AccessKey, cli.SecretKey, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return answer{resp.StatusCode, resp.Header, out}
}

// projects is a cloud with records of two projects, shop and other, a
// shared VPC and an untagged one, and a client scoped to each project.
type projects struct {
	*env
	shop, other                               *client.Client
	sharedVPC, shopVPC, otherVPC, untaggedVPC string
	otherSubnet                               string
}

func newProjects(t *testing.T) *projects {
	t.Helper()
	e := newEnv(t, 0)
	p := &projects{env: e, shop: e.scopedClient(t, "shop"), other: e.scopedClient(t, "other")}
	vpc := func(name, cidr string, tags map[string]string) string {
		return mustCreate(t, e, mycloud.KindVPC, map[string]any{"name": name, "cidr": cidr, "tags": tags}).String("id")
	}
	p.sharedVPC = vpc("shared", "10.0.0.0/16", map[string]string{"shared": "true"})
	p.shopVPC = vpc("shop", "10.1.0.0/16", map[string]string{"project": "shop"})
	p.otherVPC = vpc("other", "10.2.0.0/16", map[string]string{"project": "other"})
	p.untaggedVPC = vpc("untagged", "10.3.0.0/16", nil)
	p.otherSubnet = mustCreate(t, e, mycloud.KindSubnet, map[string]any{"name": "other", "vpc_id": p.otherVPC, "cidr": "10.2.1.0/24", "tags": map[string]string{"project": "other"}}).String("id")
	return p
}

// ids lists kind with cli and returns the ids, sorted.
func ids(t *testing.T, cli *client.Client, kind string, query url.Values) []string {
	t.Helper()
	items, err := cli.List(context.Background(), kind, query)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.String("id"))
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

// forbidden asserts err is a 403 Forbidden naming field (none when empty)
// whose message contains every one of want.
func forbidden(t *testing.T, err error, field string, want ...string) {
	t.Helper()
	apiErr(t, err, http.StatusForbidden, field)
	var e *client.Error
	errors.As(err, &e)
	if e.Code != mycloud.CodeForbidden {
		t.Errorf("code %q, want %q", e.Code, mycloud.CodeForbidden)
	}
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q does not say %q", e.Message, w)
		}
	}
}

// TestScopedKeyList: a scoped key lists its project's records and the
// shared ones, whatever it filters on; an unscoped key lists everything.
func TestScopedKeyList(t *testing.T) {
	p := newProjects(t)
	cases := map[string]struct {
		cli   *client.Client
		kind  string
		query url.Values
		want  []string
	}{
		"shop: its own and the shared":     {p.shop, mycloud.KindVPC, nil, sorted(p.sharedVPC, p.shopVPC)},
		"other: its own and the shared":    {p.other, mycloud.KindVPC, nil, sorted(p.sharedVPC, p.otherVPC)},
		"unscoped: everything":             {p.cli, mycloud.KindVPC, nil, sorted(p.sharedVPC, p.shopVPC, p.otherVPC, p.untaggedVPC)},
		"a filter cannot widen the scope":  {p.shop, mycloud.KindVPC, url.Values{"tag.project": {"other"}}, nil},
		"with name_prefix":                 {p.shop, mycloud.KindVPC, url.Values{"name_prefix": {"sh"}}, sorted(p.sharedVPC, p.shopVPC)},
		"with an exact name of another's":  {p.shop, mycloud.KindVPC, url.Values{"name": {"other"}}, nil},
		"another project's subnet: hidden": {p.shop, mycloud.KindSubnet, nil, nil},
		"its own subnet":                   {p.other, mycloud.KindSubnet, nil, []string{p.otherSubnet}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ids(t, tc.cli, tc.kind, tc.query)); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScopedKeyForeignRecordsAreMissing: a get, patch or delete of a record
// outside the key's project answers exactly as for an id that does not
// exist, and changes nothing.
func TestScopedKeyForeignRecordsAreMissing(t *testing.T) {
	p := newProjects(t)
	const missingVPC, missingSubnet = "vpc-00000000", "subnet-00000000"
	foreign := map[string]struct{ kind, id, missing string }{
		"another project's vpc":    {mycloud.KindVPC, p.otherVPC, missingVPC},
		"an untagged vpc":          {mycloud.KindVPC, p.untaggedVPC, missingVPC},
		"another project's subnet": {mycloud.KindSubnet, p.otherSubnet, missingSubnet},
	}
	ops := map[string]struct {
		method string
		body   any
	}{
		"get": {http.MethodGet, nil},
		// Taking the record over is the patch that must fail.
		"patch":  {http.MethodPatch, map[string]any{"tags": map[string]string{"project": "shop"}}},
		"delete": {http.MethodDelete, nil},
	}
	for name, rec := range foreign {
		for opName, op := range ops {
			t.Run(name+"/"+opName, func(t *testing.T) {
				want := call(t, p.shop, op.method, "/v1/"+rec.kind+"/"+rec.missing, op.body)
				if want.status != http.StatusNotFound {
					t.Fatalf("%s of a missing id: HTTP %d %v", opName, want.status, want.body)
				}
				wantBody, _ := json.Marshal(want.body)
				got := call(t, p.shop, op.method, "/v1/"+rec.kind+"/"+rec.id, op.body)
				gotBody, _ := json.Marshal(got.body)
				if got.status != want.status || string(gotBody) != strings.ReplaceAll(string(wantBody), rec.missing, rec.id) {
					t.Fatalf("%s of %s: HTTP %d %s, want what a missing id gets: HTTP %d %s", opName, rec.id, got.status, gotBody, want.status, wantBody)
				}
				obj, err := p.cli.Get(context.Background(), rec.kind, rec.id)
				if err != nil {
					t.Fatalf("the record is gone: %v", err)
				}
				if obj.Tags()["project"] == "shop" {
					t.Fatal("the patch moved the record into the key's project")
				}
			})
		}
	}
}

// TestScopedKeyCreate: whatever a scoped key creates carries its project's
// tag; anything else is a 403 on tags.project saying what to set, and
// creates nothing.
func TestScopedKeyCreate(t *testing.T) {
	p := newProjects(t)
	ctx := context.Background()
	cases := map[string]struct {
		tags  map[string]string
		field string
		want  []string
	}{
		"no tags":           {nil, "tags.project", []string{`project "shop"`, `set tags.project = "shop"`}},
		"no project tag":    {map[string]string{"team": "web"}, "tags.project", []string{`project "shop"`, `set tags.project = "shop"`}},
		"another project":   {map[string]string{"project": "other"}, "tags.project", []string{`"other"`, `project "shop"`, `set tags.project = "shop"`}},
		"project not exact": {map[string]string{"project": "Shop"}, "tags.project", []string{`set tags.project = "shop"`}},
		"shared":            {map[string]string{"project": "shop", "shared": "true"}, "tags.shared", []string{`project "shop"`, "unscoped"}},
	}
	before := ids(t, p.cli, mycloud.KindVPC, nil)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			attrs := map[string]any{"name": "new", "cidr": "10.9.0.0/16"}
			if tc.tags != nil {
				attrs["tags"] = tc.tags
			}
			_, err := p.shop.Create(ctx, mycloud.KindVPC, attrs)
			forbidden(t, err, tc.field, tc.want...)
		})
	}
	if diff := cmp.Diff(before, ids(t, p.cli, mycloud.KindVPC, nil)); diff != "" {
		t.Fatalf("a refused create made a VPC (-before +after):\n%s", diff)
	}
	vpc, err := p.shop.Create(ctx, mycloud.KindVPC, map[string]any{"name": "new", "cidr": "10.9.0.0/16", "tags": map[string]string{"project": "shop", "team": "web"}})
	if err != nil {
		t.Fatalf("a create with tags.project = shop: %v", err)
	}
	if _, err := p.shop.Get(ctx, mycloud.KindVPC, vpc.String("id")); err != nil {
		t.Fatalf("the key cannot read what it created: %v", err)
	}
	if got := call(t, p.shop, http.MethodDelete, "/v1/vpcs/"+vpc.String("id"), nil); got.status != http.StatusNoContent {
		t.Fatalf("the key cannot delete what it created: HTTP %d %v", got.status, got.body)
	}
}

// TestScopedKeyCannotMoveRecords: a patch by a scoped key may change its
// project's records but not take them out of the project (nor share them).
func TestScopedKeyCannotMoveRecords(t *testing.T) {
	p := newProjects(t)
	ctx := context.Background()
	refused := map[string]struct {
		tags  map[string]string
		field string
		want  []string
	}{
		"tags without project": {map[string]string{"team": "web"}, "tags.project", []string{"cannot be removed", `keep tags.project = "shop"`}},
		"no tags at all":       {map[string]string{}, "tags.project", []string{"cannot be removed", `keep tags.project = "shop"`}},
		"another project":      {map[string]string{"project": "other"}, "tags.project", []string{`cannot be changed to "other"`, `project "shop"`, `keep tags.project = "shop"`}},
		"shared":               {map[string]string{"project": "shop", "shared": "true"}, "tags.shared", []string{"unscoped"}},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			_, err := p.shop.Update(ctx, mycloud.KindVPC, p.shopVPC, map[string]any{"tags": tc.tags})
			forbidden(t, err, tc.field, tc.want...)
			vpc, err := p.cli.Get(ctx, mycloud.KindVPC, p.shopVPC)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"project": "shop"}, vpc.Tags()); diff != "" {
				t.Fatalf("a refused patch changed the tags (-want +got):\n%s", diff)
			}
		})
	}
	vpc, err := p.shop.Update(ctx, mycloud.KindVPC, p.shopVPC, map[string]any{"name": "shop-main", "tags": map[string]string{"project": "shop", "team": "web"}})
	if err != nil {
		t.Fatalf("a patch that keeps the project: %v", err)
	}
	if vpc.String("name") != "shop-main" || vpc.Tags()["team"] != "web" {
		t.Fatalf("patch not applied: %v", vpc)
	}
}

// TestSharedVPC: a VPC tagged shared=true is read by every scoped key and
// takes their subnets, and only the unscoped keys change it; a VPC of
// another project is no parent at all.
func TestSharedVPC(t *testing.T) {
	p := newProjects(t)
	ctx := context.Background()
	shopTags := map[string]string{"project": "shop"}
	subnet := func(cli *client.Client, vpc, cidr string, tags map[string]string) (client.Object, error) {
		return cli.Create(ctx, mycloud.KindSubnet, map[string]any{"name": "app", "vpc_id": vpc, "cidr": cidr, "tags": tags})
	}

	if _, err := p.shop.Get(ctx, mycloud.KindVPC, p.sharedVPC); err != nil {
		t.Fatalf("shop reads the shared VPC: %v", err)
	}
	shopSubnet, err := subnet(p.shop, p.sharedVPC, "10.0.1.0/24", shopTags)
	if err != nil {
		t.Fatalf("shop creates a subnet in the shared VPC: %v", err)
	}
	otherSubnet, err := subnet(p.other, p.sharedVPC, "10.0.2.0/24", map[string]string{"project": "other"})
	if err != nil {
		t.Fatalf("other creates a subnet in the shared VPC: %v", err)
	}
	if diff := cmp.Diff([]string{shopSubnet.String("id")}, ids(t, p.shop, mycloud.KindSubnet, url.Values{"vpc_id": {p.sharedVPC}})); diff != "" {
		t.Errorf("shop lists another project's subnet of the shared VPC (-want +got):\n%s", diff)
	}

	t.Run("an overlap with another project's subnet does not name it", func(t *testing.T) {
		_, err := subnet(p.shop, p.sharedVPC, "10.0.2.0/25", shopTags)
		apiErr(t, err, http.StatusConflict, "cidr")
		if msg := err.Error(); strings.Contains(msg, otherSubnet.String("id")) || !strings.Contains(msg, "another project") {
			t.Fatalf("error %q names the other project's subnet or does not say whose it is", msg)
		}
	})

	t.Run("a VPC the key cannot see is no parent", func(t *testing.T) {
		_, missing := subnet(p.shop, "vpc-00000000", "10.2.9.0/24", shopTags)
		apiErr(t, missing, http.StatusBadRequest, "vpc_id")
		for _, vpc := range []string{p.otherVPC, p.untaggedVPC} {
			_, err := subnet(p.shop, vpc, "10.2.9.0/24", shopTags)
			apiErr(t, err, http.StatusBadRequest, "vpc_id")
			if want := strings.ReplaceAll(missing.Error(), "vpc-00000000", vpc); err.Error() != want {
				t.Errorf("subnet in %s: %q, want what a missing VPC gets: %q", vpc, err, want)
			}
		}
	})

	t.Run("only unscoped keys change it", func(t *testing.T) {
		_, err := p.shop.Update(ctx, mycloud.KindVPC, p.sharedVPC, map[string]any{"name": "mine"})
		forbidden(t, err, "", "shared", `project "shop"`)
		got := call(t, p.shop, http.MethodDelete, "/v1/vpcs/"+p.sharedVPC, nil)
		if got.status != http.StatusForbidden || got.errorField("code") != mycloud.CodeForbidden {
			t.Fatalf("shop deletes the shared VPC: HTTP %d %v", got.status, got.body)
		}
		// The tag is what the rule reads: a shared record of the key's own
		// project is no more the key's to change.
		_, err = p.shop.Update(ctx, mycloud.KindVPC, p.shopVPC, map[string]any{"tags": map[string]string{"project": "shop", "shared": "true"}})
		forbidden(t, err, "tags.shared")
		if _, err := p.cli.Update(ctx, mycloud.KindVPC, p.sharedVPC, map[string]any{"name": "shared-main"}); err != nil {
			t.Fatalf("the unscoped key changes the shared VPC: %v", err)
		}
	})
}

// TestScopedSecretValue: a scoped key reads the password of its project's
// instances only; a shared instance's secret is visible but its value is
// for the unscoped keys, and another project's is missing.
func TestScopedSecretValue(t *testing.T) {
	p := newProjects(t)
	ctx := context.Background()
	shopSubnet, err := p.shop.Create(ctx, mycloud.KindSubnet, map[string]any{"name": "shop", "vpc_id": p.sharedVPC, "cidr": "10.0.1.0/24", "tags": map[string]string{"project": "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	shopDB, err := p.shop.Create(ctx, mycloud.KindMySQL, map[string]any{"name": "orders", "subnet_id": shopSubnet.String("id"), "manage_admin_password": true, "tags": map[string]string{"project": "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	sharedSubnet := mustCreate(t, p.env, mycloud.KindSubnet, map[string]any{"name": "shared", "vpc_id": p.sharedVPC, "cidr": "10.0.9.0/24", "tags": map[string]string{"shared": "true"}})
	sharedDB := mustCreate(t, p.env, mycloud.KindRedis, map[string]any{"name": "cache", "subnet_id": sharedSubnet.String("id"), "manage_password": true, "tags": map[string]string{"shared": "true"}})
	shopSecret, sharedSecret := shopDB.String("admin_password_secret_id"), sharedDB.String("password_secret_id")

	shopValue, err := p.shop.SecretValue(ctx, shopSecret)
	if err != nil {
		t.Fatalf("shop reads its instance's password: %v", err)
	}
	if v, err := p.cli.SecretValue(ctx, shopSecret); err != nil || v != shopValue {
		t.Fatalf("the unscoped key reads it too: %v", err)
	}

	t.Run("another project's secret is missing", func(t *testing.T) {
		for _, err := range []error{
			func() error { _, err := p.other.SecretValue(ctx, shopSecret); return err }(),
			func() error { _, err := p.other.Get(ctx, mycloud.KindSecret, shopSecret); return err }(),
		} {
			if !client.IsNotFound(err) || strings.Contains(err.Error(), shopValue) {
				t.Errorf("want a 404, got %v", err)
			}
		}
		// The shared instance's secret is listed: its metadata, not its value.
		if diff := cmp.Diff([]string{sharedSecret}, ids(t, p.other, mycloud.KindSecret, nil)); diff != "" {
			t.Errorf("other lists secrets (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{shopSecret}, ids(t, p.shop, mycloud.KindSecret, url.Values{"owner_id": {shopDB.String("id")}})); diff != "" {
			t.Errorf("shop lists its secrets (-want +got):\n%s", diff)
		}
	})

	t.Run("a shared instance's value is the unscoped keys'", func(t *testing.T) {
		if _, err := p.shop.Get(ctx, mycloud.KindSecret, sharedSecret); err != nil {
			t.Fatalf("shop reads the shared instance's secret (not its value): %v", err)
		}
		_, err := p.shop.SecretValue(ctx, sharedSecret)
		forbidden(t, err, "", sharedDB.String("id"), "shared", "unscoped")
		if _, err := p.cli.SecretValue(ctx, sharedSecret); err != nil {
			t.Fatalf("the unscoped key reads the shared instance's password: %v", err)
		}
	})
}

// TestAccessKeysAdmin: the admin API makes, lists and deletes scoped keys;
// the secret key is shown once; the request log names the key of a call.
func TestAccessKeysAdmin(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	code, created := e.admin(t, http.MethodPost, "/admin/v1/access-keys", map[string]any{"project": "shop"})
	if code != http.StatusCreated {
		t.Fatalf("create: HTTP %d %v", code, created)
	}
	id, _ := created["access_key"].(string)
	secret, _ := created["secret_key"].(string)
	if !strings.HasPrefix(id, "AKP") || len(secret) < 32 || created["project"] != "shop" {
		t.Fatalf("create answered %v: want an AKP… access_key, a secret_key and the project", created)
	}

	t.Run("bad requests name project", func(t *testing.T) {
		for name, body := range map[string]map[string]any{
			"missing":             {},
			"empty":               {"project": ""},
			"upper case":          {"project": "Shop"},
			"starts with -":       {"project": "-shop"},
			"ends with -":         {"project": "shop-"},
			"dot":                 {"project": "shop.web"},
			"longer than a label": {"project": strings.Repeat("a", 64)},
			"not a string":        {"project": 7},
		} {
			code, out := e.admin(t, http.MethodPost, "/admin/v1/access-keys", body)
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if code != http.StatusBadRequest || !strings.Contains(msg, "project") {
				t.Errorf("%s: HTTP %d %v, want a 400 naming project", name, code, out)
			}
			if out["error"].(map[string]any)["field"] != "project" {
				t.Errorf("%s: field %v, want project", name, out["error"])
			}
		}
		if code, out := e.admin(t, http.MethodPost, "/admin/v1/access-keys", map[string]any{"project": "shop", "admin": true}); code != http.StatusBadRequest {
			t.Errorf("unknown field: HTTP %d %v", code, out)
		}
	})

	scoped := client.New(e.url, id, secret)
	if _, err := scoped.List(ctx, mycloud.KindVPC, nil); err != nil {
		t.Fatalf("a call with the new key: %v", err)
	}
	log := requestLog(t, e)
	if last := log[len(log)-1]; last.AccessKey != id || last.Status != http.StatusOK {
		t.Fatalf("request log entry %+v, want the key id %s", last, id)
	}

	code, listed := e.admin(t, http.MethodGet, "/admin/v1/access-keys", nil)
	data, _ := json.Marshal(listed)
	if code != http.StatusOK || strings.Contains(string(data), secret) || strings.Contains(string(data), "secret_key") {
		t.Fatalf("list: HTTP %d %s: want the keys without their secret keys", code, data)
	}
	var list mycloud.AccessKeyList
	_ = json.Unmarshal(data, &list)
	if len(list.Items) != 1 || list.Items[0].AccessKey != id || list.Items[0].Project != "shop" || list.Items[0].CreatedAt.IsZero() {
		t.Fatalf("list: %+v", list)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the secret key reached the log")
	}

	if code, out := e.admin(t, http.MethodDelete, "/admin/v1/access-keys/"+testKey, nil); code != http.StatusNotFound {
		t.Errorf("deleting a key given at start-up: HTTP %d %v, want 404", code, out)
	}
	if code, out := e.admin(t, http.MethodDelete, "/admin/v1/access-keys/"+id, nil); code != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d %v", code, out)
	}
	_, err := scoped.List(ctx, mycloud.KindVPC, nil)
	apiErr(t, err, http.StatusUnauthorized, "")
	if code, _ := e.admin(t, http.MethodDelete, "/admin/v1/access-keys/"+id, nil); code != http.StatusNotFound {
		t.Errorf("deleting it again: HTTP %d, want 404", code)
	}
	if _, err := e.cli.List(ctx, mycloud.KindVPC, nil); err != nil {
		t.Fatalf("the key given at start-up stopped working: %v", err)
	}
}

// TestAccessKeysSurviveRestart: scoped keys are in the store, like the
// resources they reach.
func TestAccessKeysSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := mycloud.Config{Credentials: map[string]string{testKey: testSecret}, AdminToken: testAdmin}
	store, err := mycloud.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mycloud.NewServer(store, cfg))
	e := &env{url: hs.URL}
	key := e.newKey(t, "shop")
	vpc, err := client.New(hs.URL, key.AccessKey, key.SecretKey).Create(context.Background(), mycloud.KindVPC,
		map[string]any{"name": "kept", "cidr": "10.0.0.0/16", "tags": map[string]string{"project": "shop"}})
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
	hs = httptest.NewServer(mycloud.NewServer(store, cfg))
	defer hs.Close()
	got := ids(t, client.New(hs.URL, key.AccessKey, key.SecretKey), mycloud.KindVPC, nil)
	if diff := cmp.Diff([]string{vpc.String("id")}, got); diff != "" {
		t.Fatalf("after restart the key lists (-want +got):\n%s", diff)
	}
	e = &env{url: hs.URL}
	if _, out := e.admin(t, http.MethodGet, "/admin/v1/access-keys", nil); len(out["items"].([]any)) != 1 {
		t.Fatalf("after restart the admin API lists %v", out)
	}
}

// TestResetRemovesAccessKeys: a reset forgets the scoped keys, not the
// keys mycloud was started with.
func TestResetRemovesAccessKeys(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	scoped := e.scopedClient(t, "shop")
	if _, err := scoped.List(ctx, mycloud.KindVPC, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.admin(t, http.MethodPost, "/admin/v1/reset", nil); code != http.StatusOK {
		t.Fatal("reset failed")
	}
	_, err := scoped.List(ctx, mycloud.KindVPC, nil)
	apiErr(t, err, http.StatusUnauthorized, "")
	if _, out := e.admin(t, http.MethodGet, "/admin/v1/access-keys", nil); len(out["items"].([]any)) != 0 {
		t.Fatalf("after reset the admin API lists %v", out)
	}
	if _, err := e.cli.List(ctx, mycloud.KindVPC, nil); err != nil {
		t.Fatalf("the key given at start-up after reset: %v", err)
	}
}
