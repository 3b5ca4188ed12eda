package mycloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// Kind names, as they appear in the API path (/v1/<kind>).
const (
	KindVPC    = "vpcs"
	KindSubnet = "subnets"
	KindMySQL  = "mysql-instances"
	KindRedis  = "redis-instances"
	KindBucket = "buckets"
	// KindSecret holds the passwords the cloud generates and keeps for
	// instances created with manage_admin_password or manage_password. A
	// secret is made and deleted with its instance; its value is read only
	// through GET /v1/secrets/<id>/value.
	KindSecret = "secrets"
)

// Kinds lists every resource kind in dependency order: a kind only refers to
// kinds before it.
var Kinds = []string{KindVPC, KindSubnet, KindMySQL, KindRedis, KindBucket, KindSecret}

type fieldType int

const (
	typeString fieldType = iota
	typeInt
	typeBool
	typeTags
)

func (t fieldType) String() string {
	return [...]string{"a string", "an integer", "a boolean", "an object of string values"}[t]
}

// field describes one attribute a client may set.
type field struct {
	name      string
	typ       fieldType
	required  bool
	def       any  // server default when absent on create
	immutable bool // a change needs a new resource
	writeOnly bool // accepted, stored as a hash, never returned
	check     func(v any) error
}

// kind describes one resource type of the simulated cloud.
type kind struct {
	name     string
	idPrefix string
	fields   []field
	// uniqueName: names are unique in the whole cloud (buckets), not per kind
	// and parent.
	uniqueName bool
	// parentField names the attribute holding the id of the resource this one
	// lives in, and parentKind its kind.
	parentField, parentKind string
	// computed fills server-computed attributes (endpoints, ports).
	computed func(r *Record)
	// managed is set when the cloud can generate the kind's password and
	// keep it as a secret instead of taking one.
	managed *managedSecret
	// readOnly kinds (secrets) are made and deleted by the cloud only: the
	// API refuses to create, change or delete them, and seeds cannot hold
	// them.
	readOnly bool
	// namePrefix is the rule of the list filter name_prefix; nil for a kind
	// without names (secrets).
	namePrefix func(string) error
}

// managedSecret names the attributes of a kind whose password the cloud can
// manage, as AWS RDS's manage_master_user_password does: a create sets
// exactly one of password (write-only, given by the client) and flag (true:
// the cloud generates the password, keeps it as a secret owned by the
// instance and sets secretID, a read-only attribute, to the secret's id).
type managedSecret struct {
	password string // admin_password
	flag     string // manage_admin_password
	secretID string // admin_password_secret_id
}

// checkCreate holds a create to exactly one of the password and the flag.
// The flag's default (false) is filled in already.
func (m *managedSecret) checkCreate(attrs map[string]any) error {
	_, given := attrs[m.password]
	managed, _ := attrs[m.flag].(bool)
	switch {
	case given && managed:
		return fieldError(m.flag, "is true and %s is set: set exactly one of %s and %s (true: the cloud generates the password and keeps it as a secret)", m.password, m.password, m.flag)
	case !given && !managed:
		return fieldError(m.password, "is required unless %s is true: set exactly one of %s and %s", m.flag, m.password, m.flag)
	}
	return nil
}

// checkChange refuses what no API call or console can do to an existing
// record: turning password management on or off (that is decided at
// creation), and setting a password the cloud manages.
func (m *managedSecret) checkChange(rec *Record, attrs map[string]any) error {
	managed, _ := rec.Attrs[m.flag].(bool)
	if v, ok := attrs[m.flag]; ok && v != managed {
		return fieldError(m.flag, "cannot be changed after creation (it is %v); create a new resource instead", managed)
	}
	if _, ok := attrs[m.password]; ok && managed {
		return fieldError(m.password, "cannot be set: the cloud manages this instance's password (%s is true); read it from secret %v", m.flag, rec.Attrs[m.secretID])
	}
	return nil
}

// str adapts a rule on strings to a field check.
func str(rule func(string) error) func(any) error {
	return func(v any) error { return rule(v.(string)) }
}

func oneOf(values ...string) func(any) error {
	return func(v any) error {
		for _, want := range values {
			if v.(string) == want {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
	}
}

func between(lo, hi int64) func(any) error {
	return func(v any) error {
		if n := v.(int64); n < lo || n > hi {
			return fmt.Errorf("%d is outside %d to %d", n, lo, hi)
		}
		return nil
	}
}

func multipleOf(step int64, inner func(any) error) func(any) error {
	return func(v any) error {
		if err := inner(v); err != nil {
			return err
		}
		if v.(int64)%step != 0 {
			return fmt.Errorf("%d is not a multiple of %d", v, step)
		}
		return nil
	}
}

func checkTags(v any) error { return rules.Tags(v.(map[string]string)) }

var (
	nameField = field{name: "name", typ: typeString, required: true, immutable: true, check: str(rules.Name)}
	tagsField = field{name: "tags", typ: typeTags, def: map[string]string{}, check: checkTags}
)

var kinds = map[string]*kind{
	KindVPC: {
		name: KindVPC, idPrefix: "vpc-",
		namePrefix: rules.NamePrefix,
		fields: []field{
			{name: "name", typ: typeString, required: true, check: str(rules.Name)},
			{name: "cidr", typ: typeString, required: true, immutable: true, check: str(rules.VPCCIDR)},
			tagsField,
		},
	},
	KindSubnet: {
		name: KindSubnet, idPrefix: "subnet-", parentField: "vpc_id", parentKind: KindVPC,
		namePrefix: rules.NamePrefix,
		fields: []field{
			{name: "name", typ: typeString, required: true, check: str(rules.Name)},
			{name: "vpc_id", typ: typeString, required: true, immutable: true},
			{name: "cidr", typ: typeString, required: true, immutable: true, check: str(rules.SubnetCIDR)},
			{name: "zone", typ: typeString, def: "zone-a", immutable: true, check: str(rules.Zone)},
			tagsField,
		},
	},
	KindMySQL: {
		name: KindMySQL, idPrefix: "mysql-", parentField: "subnet_id", parentKind: KindSubnet,
		namePrefix: rules.NamePrefix,
		fields: []field{
			nameField,
			{name: "subnet_id", typ: typeString, required: true, immutable: true},
			{name: "engine_version", typ: typeString, def: "8.0", immutable: true, check: oneOf("5.7", "8.0")},
			{name: "instance_class", typ: typeString, def: "db.small", check: oneOf("db.small", "db.medium", "db.large")},
			{name: "storage_gib", typ: typeInt, def: int64(20), check: between(20, 16384)},
			{name: "admin_user", typ: typeString, def: "admin", immutable: true, check: str(rules.Name)},
			{name: "admin_password", typ: typeString, writeOnly: true, check: str(rules.Password)},
			{name: "manage_admin_password", typ: typeBool, def: false, immutable: true},
			tagsField,
		},
		computed: func(r *Record) {
			r.Attrs["endpoint"] = r.ID + ".mysql.mycloud.internal"
			r.Attrs["port"] = int64(3306)
		},
		managed: &managedSecret{password: "admin_password", flag: "manage_admin_password", secretID: "admin_password_secret_id"},
	},
	KindRedis: {
		name: KindRedis, idPrefix: "redis-", parentField: "subnet_id", parentKind: KindSubnet,
		namePrefix: rules.NamePrefix,
		fields: []field{
			nameField,
			{name: "subnet_id", typ: typeString, required: true, immutable: true},
			{name: "version", typ: typeString, def: "7.0", immutable: true, check: oneOf("6.2", "7.0")},
			{name: "memory_mib", typ: typeInt, def: int64(1024), check: multipleOf(256, between(256, 65536))},
			{name: "password", typ: typeString, writeOnly: true, check: str(rules.Password)},
			{name: "manage_password", typ: typeBool, def: false, immutable: true},
			tagsField,
		},
		computed: func(r *Record) {
			r.Attrs["endpoint"] = r.ID + ".redis.mycloud.internal"
			r.Attrs["port"] = int64(6379)
		},
		managed: &managedSecret{password: "password", flag: "manage_password", secretID: "password_secret_id"},
	},
	KindBucket: {
		name: KindBucket, idPrefix: "bucket-", uniqueName: true,
		namePrefix: rules.BucketNamePrefix,
		fields: []field{
			{name: "name", typ: typeString, required: true, immutable: true, check: str(rules.BucketName)},
			{name: "acl", typ: typeString, def: "private", check: oneOf("private", "public-read")},
			{name: "versioning", typ: typeBool, def: false},
			tagsField,
		},
		computed: func(r *Record) {
			r.Attrs["url"] = "https://" + r.Attrs["name"].(string) + ".bucket.mycloud.internal"
		},
	},
	// Not settable by anyone: the fields are what the API shows (and
	// filters on), the value is in Record.SecretValue.
	KindSecret: {
		name: KindSecret, idPrefix: "secret-", readOnly: true,
		fields: []field{
			{name: "owner_kind", typ: typeString},
			{name: "owner_id", typ: typeString},
			{name: "owner_attribute", typ: typeString},
		},
	},
}

// fieldOf returns the field spec of name in k.
func (k *kind) fieldOf(name string) (field, bool) {
	for _, f := range k.fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// decodeAttrs decodes a JSON object of client-settable attributes of k,
// rejecting unknown fields and wrong types with an error naming the field.
// Values are converted to string, int64, bool or map[string]string.
func (k *kind) decodeAttrs(body []byte) (map[string]any, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &APIError{Status: 400, Code: "MalformedJSON", Message: "request body is not a JSON object: " + err.Error()}
	}
	out := make(map[string]any, len(raw))
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names) // report the first bad field deterministically
	for _, name := range names {
		f, ok := k.fieldOf(name)
		if !ok {
			return nil, fieldError(name, "is not a field of %s (known fields: %s)", k.name, strings.Join(k.fieldNames(), ", "))
		}
		v, err := decodeValue(f.typ, raw[name])
		if err != nil {
			return nil, fieldError(name, "must be %s", f.typ)
		}
		out[name] = v
	}
	return out, nil
}

func decodeValue(t fieldType, raw json.RawMessage) (any, error) {
	switch t {
	case typeString:
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case typeInt:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, err
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("not an integer")
		}
		return int64(f), nil
	case typeBool:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	default:
		var m map[string]string
		err := json.Unmarshal(raw, &m)
		if m == nil && err == nil {
			m = map[string]string{}
		}
		return m, err
	}
}

func (k *kind) fieldNames() []string {
	names := make([]string, len(k.fields))
	for i, f := range k.fields {
		names[i] = f.name
	}
	return names
}

// validate checks each attribute's value and, on create, fills defaults and
// checks that required attributes are present.
func (k *kind) validate(attrs map[string]any, create bool) error {
	for _, f := range k.fields {
		v, ok := attrs[f.name]
		if !ok {
			if create && f.required {
				return fieldError(f.name, "is required")
			}
			if create && f.def != nil {
				attrs[f.name] = cloneValue(f.def)
			}
			continue
		}
		if f.check != nil {
			if err := f.check(v); err != nil {
				return fieldError(f.name, "%s", err)
			}
		}
	}
	if create && k.managed != nil {
		return k.managed.checkCreate(attrs)
	}
	return nil
}

// hashSecret is how write-only attributes are kept: enough to tell whether a
// new value differs, never enough to return it.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte("mycloud:" + s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func cloneValue(v any) any {
	if m, ok := v.(map[string]string); ok {
		c := make(map[string]string, len(m))
		for k, val := range m {
			c[k] = val
		}
		return c
	}
	return v
}
