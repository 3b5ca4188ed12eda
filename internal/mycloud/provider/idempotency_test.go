package provider

import (
	"strings"
	"testing"
)

// TestIdempotencyKeyDerivation: with a scope the key is a function of
// (scope, type, name), the same in every process, and one apply cannot use
// it twice; without a scope (or a name) every create gets a fresh key.
func TestIdempotencyKeyDerivation(t *testing.T) {
	key := func(scope, typ, name string) string {
		t.Helper()
		k, err := (&providerData{scope: scope}).idempotencyKey(typ, name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key("team-a/app-db", "mycloud_vpc", "main")
	if again := key("team-a/app-db", "mycloud_vpc", "main"); again != base {
		t.Fatalf("the same scope, type and name gave %q and %q: a rerun would not adopt", base, again)
	}
	if len(base) > 255 || strings.Trim(base, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		t.Fatalf("key %q is not a short printable token", base)
	}
	for name, other := range map[string]string{
		"other scope": key("team-b/app-db", "mycloud_vpc", "main"),
		"other type":  key("team-a/app-db", "mycloud_subnet", "main"),
		"other name":  key("team-a/app-db", "mycloud_vpc", "main2"),
		// The parts are separated, not concatenated.
		"shifted parts": key("team-a/app-dbmycloud_vpc", "", "main"),
		"no scope":      key("", "mycloud_vpc", "main"),
		"no name":       key("team-a/app-db", "mycloud_vpc", ""),
	} {
		if other == base {
			t.Errorf("%s: same key %q", name, other)
		}
	}
	if a, b := key("", "mycloud_vpc", "main"), key("", "mycloud_vpc", "main"); a == b {
		t.Error("without a scope two creates got the same key")
	}

	p := &providerData{scope: "team-a/app-db"}
	if _, err := p.idempotencyKey("mycloud_vpc", "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.idempotencyKey("mycloud_subnet", "main"); err != nil {
		t.Fatalf("another type with the same name: %v", err)
	}
	_, err := p.idempotencyKey("mycloud_vpc", "main")
	if err == nil || !strings.Contains(err.Error(), `another mycloud_vpc in this configuration is named "main"`) {
		t.Fatalf("a second mycloud_vpc named main in one apply: want an error naming it, got %v", err)
	}
}
