package mycloud

import (
	"errors"
	"sort"
	"testing"
)

// FuzzDecodeAttrs: whatever a client sends as a resource's attributes,
// decoding and validating it never panics, and every refusal is a 4xx
// APIError with a message (naming the field when one is to blame), which is
// what the provider shows the user.
func FuzzDecodeAttrs(f *testing.F) {
	for _, body := range []string{
		`{"name":"legacy","cidr":"10.40.0.0/16","tags":{"owner":"ops"}}`,
		`{"name":"web","vpc_id":"vpc-1","cidr":"10.40.1.0/24","zone":"zone-z"}`,
		`{"memory_mib":"lots"}`, `{"tags":{"":"x"}}`, `{"cidr":"8.8.8.0/24"}`, `{"size_gb":1e300}`,
		`[]`, `null`, `{"name":1}`, `{"unknown":true}`, `{"admin_password":"short"}`,
		`{"manage_admin_password":true,"admin_password":"Aa1aaaaaaaaaaa"}`, `{"manage_password":"yes"}`, `{"owner_id":"mysql-1"}`,
	} {
		f.Add(body)
	}
	names := make([]string, 0, len(kinds))
	for name := range kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	f.Fuzz(func(t *testing.T, body string) {
		for _, name := range names {
			k := kinds[name]
			attrs, err := k.decodeAttrs([]byte(body))
			if err == nil {
				for _, create := range []bool{true, false} {
					err = k.validate(attrs, create)
					checkRefusal(t, name, body, err)
				}
				continue
			}
			checkRefusal(t, name, body, err)
		}
	})
}

func checkRefusal(t *testing.T, kind, body string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s %q: a refusal that is not an APIError: %v", kind, body, err)
	}
	if ae.Status < 400 || ae.Status > 499 || ae.Message == "" {
		t.Fatalf("%s %q: refusal %+v is not a 4xx with a message", kind, body, ae)
	}
}
