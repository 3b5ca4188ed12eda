// Package discovery finds a project's existing cloud resources and writes
// the Application that adopts them.
//
// Finding goes through the cloud's Terraform provider, as everything else
// the step-runner does: a root module of one list data source per type
// (mycloud_resources), planned with the Provider's credentials, whose
// outputs are the resources that match the selector (Module, Parse).
// Nothing in the cloud changes and no state is kept.
//
// Writing (Generate) turns what was found into an Application a person
// reviews and `vela up`s: one component per resource, of the type whose
// module manages it, with the properties the cloud has; a resource in
// another one found too (a subnet in a VPC, a database in a subnet) takes
// that one's id through the parent component's output and its own input,
// never a pasted id; an infra-bulk-import step adopts every resource, then
// one apply-component step per component, parents first. Passwords are
// never discovered (the cloud never returns them): a database whose
// password the cloud does not manage reads it from a Secret the person
// fills in.
//
// What the package knows about the cloud is the table of types (Types);
// another cloud adds its own.
package discovery

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Type is one kind of resource discovery finds, and how its component
// adopts it.
type Type struct {
	// Name is the selector's name of the type, and the data source's.
	Name string
	// Component is the ComponentDefinition whose module manages it.
	Component string
	// Address is the resource's address in that module.
	Address string
	// Properties are the module's variables the cloud returns, in the
	// order the generated component lists them.
	Properties []string
	// Parent is the property holding the id of the resource this one
	// lives in, and ParentType that resource's type.
	Parent, ParentType string
	// Password is the write-only password property and Managed the flag
	// that says the cloud manages the password instead (then no password
	// is needed); empty for types without one.
	Password, Managed string
}

// Types are mycloud's, parents before children.
var Types = []Type{
	{Name: "vpc", Component: "mycloud-vpc", Address: "mycloud_vpc.this",
		Properties: []string{"name", "cidr", "tags"}},
	{Name: "subnet", Component: "mycloud-subnet", Address: "mycloud_subnet.this",
		Properties: []string{"name", "vpc_id", "cidr", "zone", "tags"}, Parent: "vpc_id", ParentType: "vpc"},
	{Name: "mysql", Component: "mycloud-mysql", Address: "mycloud_mysql.this",
		Properties: []string{"name", "subnet_id", "engine_version", "instance_class", "storage_gib", "manage_admin_password", "tags"},
		Parent:     "subnet_id", ParentType: "subnet", Password: "admin_password", Managed: "manage_admin_password"},
	{Name: "redis", Component: "mycloud-redis", Address: "mycloud_redis.this",
		Properties: []string{"name", "subnet_id", "redis_version", "memory_mib", "manage_password", "tags"},
		Parent:     "subnet_id", ParentType: "subnet", Password: "password", Managed: "manage_password"},
	{Name: "bucket", Component: "mycloud-bucket", Address: "mycloud_bucket.this",
		Properties: []string{"name", "acl", "versioning", "tags"}},
}

// TypeNames lists the names of Types.
func TypeNames() []string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = t.Name
	}
	return names
}

func typeOf(name string) (Type, bool) {
	for _, t := range Types {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// Selector picks what to find (v1alpha1.DiscoverySelector, validated).
type Selector struct {
	Tags       map[string]string
	NamePrefix string
	// Types to find; nil: all.
	Types []string
}

// tagKeyRE and tagValueRE are what a selector's tags may hold: they end up
// in HCL strings and the cloud's query, so nothing HCL would read as a
// template or an escape.
var (
	tagKeyRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$`)
	tagValueRE  = regexp.MustCompile(`^[A-Za-z0-9_.:/=+@ -]{0,255}$`)
	namePrefix  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	notLabelRun = regexp.MustCompile(`[^a-z0-9]+`)
)

// Validate checks a selector, naming the field (under spec.selector).
func (s Selector) Validate() error {
	if len(s.Tags) == 0 && s.NamePrefix == "" {
		return fmt.Errorf("spec.selector must set tags or namePrefix (or both): a discovery does not list the whole cloud, such as tags: {project: shop}")
	}
	keys := make([]string, 0, len(s.Tags))
	for k := range s.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !tagKeyRE.MatchString(k) {
			return fmt.Errorf("spec.selector.tags: key %q is not a tag key: 1-63 letters, digits and _.:/- starting with a letter or digit", k)
		}
		if !tagValueRE.MatchString(s.Tags[k]) {
			return fmt.Errorf("spec.selector.tags.%s: value %q is not a tag value: at most 255 letters, digits, spaces and _.:/=+@-", k, s.Tags[k])
		}
	}
	if s.NamePrefix != "" && !namePrefix.MatchString(s.NamePrefix) {
		return fmt.Errorf("spec.selector.namePrefix %q is not the start of a name: 1-63 lower-case letters, digits and -, starting with a letter or digit", s.NamePrefix)
	}
	seen := map[string]bool{}
	for i, t := range s.Types {
		if _, ok := typeOf(t); !ok {
			return fmt.Errorf("spec.selector.types[%d] %q is not a type discovery knows: one of %s", i, t, strings.Join(TypeNames(), ", "))
		}
		if seen[t] {
			return fmt.Errorf("spec.selector.types[%d] %q is listed twice", i, t)
		}
		seen[t] = true
	}
	return nil
}

func (s Selector) types() []Type {
	if len(s.Types) == 0 {
		return Types
	}
	var out []Type
	for _, t := range Types { // parents first, whatever the order given
		if slices.Contains(s.Types, t.Name) {
			out = append(out, t)
		}
	}
	return out
}

// String says what the selector matches, for messages.
func (s Selector) String() string {
	var parts []string
	keys := make([]string, 0, len(s.Tags))
	for k := range s.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("tag %s=%s", k, s.Tags[k]))
	}
	if s.NamePrefix != "" {
		parts = append(parts, fmt.Sprintf("name prefix %q", s.NamePrefix))
	}
	names := make([]string, 0, len(s.types()))
	for _, t := range s.types() {
		names = append(names, t.Name)
	}
	parts = append(parts, "types "+strings.Join(names, ", "))
	return strings.Join(parts, ", ")
}

// Module is the root module that finds what s selects: one
// mycloud_resources data source and one output per type. The provider's
// settings come from the environment (the Provider's credentials), as for
// every module the step-runner runs.
func Module(s Selector) string {
	var b strings.Builder
	b.WriteString("terraform {\n  required_providers {\n    mycloud = {\n      source = \"vela-infra/mycloud\"\n    }\n  }\n}\n")
	for _, t := range s.types() {
		fmt.Fprintf(&b, "\ndata \"mycloud_resources\" %q {\n  type = %q\n", t.Name, t.Name)
		if s.NamePrefix != "" {
			fmt.Fprintf(&b, "  name_prefix = %q\n", s.NamePrefix)
		}
		if len(s.Tags) > 0 {
			keys := make([]string, 0, len(s.Tags))
			for k := range s.Tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteString("  tags = {\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "    %q = %q\n", k, s.Tags[k])
			}
			b.WriteString("  }\n")
		}
		fmt.Fprintf(&b, "}\n\noutput %q {\n  value = data.mycloud_resources.%s.items\n}\n", t.Name, t.Name)
	}
	return b.String()
}

// Resource is one resource found.
type Resource struct {
	Type string
	ID   string
	Name string
	// Attributes are what the cloud returned, typed (numbers are
	// float64, as JSON decodes them).
	Attributes map[string]any
}

// item is one element of a mycloud_resources data source's items.
type item struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Tags           map[string]string `json:"tags"`
	AttributesJSON string            `json:"attributes_json"`
}

// Parse reads the resources out of Module's outputs (output name → value,
// as the plan's planned values hold them), parents first, each type's by
// id.
func Parse(s Selector, outputs map[string]any) ([]Resource, error) {
	var found []Resource
	for _, t := range s.types() {
		v, ok := outputs[t.Name]
		if !ok {
			return nil, fmt.Errorf("the discovery module's plan has no output %q", t.Name)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var items []item
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("output %q is not a list of resources: %w", t.Name, err)
		}
		sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
		for _, it := range items {
			attrs := map[string]any{}
			if it.AttributesJSON != "" {
				if err := json.Unmarshal([]byte(it.AttributesJSON), &attrs); err != nil {
					return nil, fmt.Errorf("output %q: resource %s: attributes_json is not a JSON object: %w", t.Name, it.ID, err)
				}
			}
			if it.Tags != nil {
				tags := map[string]any{}
				for k, v := range it.Tags {
					tags[k] = v
				}
				attrs["tags"] = tags
			}
			attrs["name"] = it.Name
			found = append(found, Resource{Type: t.Name, ID: it.ID, Name: it.Name, Attributes: attrs})
		}
	}
	return found, nil
}
