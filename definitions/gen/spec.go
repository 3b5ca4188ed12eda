package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// component is one ComponentDefinition, mycloud-<Type>, wrapping the module
// definitions/modules/<Type>. Everything the module says (variables, their
// types, defaults, descriptions, validation messages, outputs, the HCL
// itself) is read from main.tf; this table adds only what HCL cannot carry.
type component struct {
	Type        string
	Description string
	// Rules are the render-time checks of the module's variables, keyed by
	// variable name. Every variable with a validation block, and every
	// sensitive one, must have a rule (the generator refuses otherwise).
	Rules map[string]rule
	// ManagedPassword, for a database, names its password, the flag that
	// lets mycloud generate and keep the password instead, and the flag
	// that keeps the password an existing instance has.
	ManagedPassword *managedPassword
}

// managedPassword: properties of which exactly one is given, the password
// (a sensitive variable whose default is null), Flag set to true or Keep
// set to true (bool variables whose default is false). Rendering fails
// naming them otherwise, as the module's precondition does at plan time (a
// Terraform 1.5 validation block sees one variable only). Keep is for an
// instance that exists, adopted, whose password its owners set: the
// password is in no property, and the provider, which alone knows whether
// the instance exists, refuses to create one with neither password nor
// Flag.
type managedPassword struct {
	Password, Flag, Keep string
}

// rule is a render-time check of one property.
type rule struct {
	// Valid are CUE conditions over {v} (the property) that hold for a
	// good value. Each is evaluated only when those before it hold, so a
	// later one may rely on an earlier one (mod() needs an int).
	Valid []string
	// Message says what a good value is. When empty, the message is the
	// module's own validation error_message; a rule for a variable the
	// module does not validate (a sensitive one) must set it.
	Message string
	// Cloud are checks of rules the cloud holds and the module's validation
	// does not (which zones exist, private ranges, host bits, tags), each
	// with its own message, rendered from internal/mycloud/rules. They are
	// evaluated in order after Valid holds. A rule may have only these.
	Cloud []check
	// IPv4Block: the checks use #IPv4Block (ipv4BlockHelper).
	IPv4Block bool
}

// zoneRule: the module checks the shape of a zone; the cloud knows which
// zones exist (rules.Zones).
func zoneRule() rule {
	zones := rules.Zones()
	var conds []string
	for _, z := range zones {
		conds = append(conds, "{v} == "+strconv.Quote(z))
	}
	return rule{
		Valid: []string{`{v} =~ "^zone-[a-z]$"`},
		Cloud: []check{{
			Valid:   strings.Join(conds, " || "),
			Message: "The zone must be one of " + strings.Join(zones, ", ") + ": mycloud has no other zone.",
		}},
	}
}

// cidrShape is the CUE pattern of an IPv4 CIDR block whose prefix length is
// from lo to hi: four octets 0-255 without leading zeros, then the prefix.
func cidrShape(lo, hi int) string {
	var bits []string
	for b := lo; b <= hi; b++ {
		bits = append(bits, strconv.Itoa(b))
	}
	octet := `(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])`
	return `{v} =~ #"^(` + octet + `\.){3}` + octet + `/(` + strings.Join(bits, "|") + `)$"#`
}

// ipv4BlockHelper is the CUE definition the CIDR checks read a block with
// (once its shape check has held): its address as a number, the number of
// addresses in it, whether its address is the first of the block
// (aligned), that first address as a block (network), and whether it lies
// in one of the cloud's private ranges (rules.PrivateRanges).
func ipv4BlockHelper() string {
	var sizes []string
	for b := 0; b <= 32; b++ {
		sizes = append(sizes, strconv.FormatUint(1<<(32-b), 10))
	}
	var private []string
	for _, r := range rules.PrivateRanges() {
		a := r.Addr().As4()
		base := uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
		size := uint64(1) << (32 - r.Bits())
		private = append(private, fmt.Sprintf("(bits >= %d && div(addr, %d) == %d)", r.Bits(), size, base/size))
	}
	return `// An IPv4 CIDR block whose shape a check has held, read for the checks
	// of the cloud's rules (internal/mycloud/rules).
	#IPv4Block: {
		cidr:    string
		_parts:  strings.Split(cidr, "/")
		_octets: [for o in strings.Split(_parts[0], ".") {strconv.Atoi(o)}]
		addr:    _octets[0]*16777216 + _octets[1]*65536 + _octets[2]*256 + _octets[3]
		bits:    strconv.Atoi(_parts[1])
		size:    [` + strings.Join(sizes, ", ") + `][bits]
		aligned: mod(addr, size) == 0
		_first:  addr - mod(addr, size)
		network: "\(div(_first, 16777216)).\(mod(div(_first, 65536), 256)).\(mod(div(_first, 256), 256)).\(mod(_first, 256))/\(bits)"
		// In ` + privateNames() + `.
		private: ` + strings.Join(private, " || ") + `
	}`
}

func privateNames() string {
	var names []string
	for _, r := range rules.PrivateRanges() {
		names = append(names, r.String())
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// cidrRule: the module checks the shape and the prefix length; the cloud
// also refuses a block with host bits set and, for a VPC, one outside the
// private ranges.
func cidrRule(lo, hi int, private bool) rule {
	block := "(#IPv4Block & {cidr: {v}})"
	r := rule{
		Valid: []string{cidrShape(lo, hi)},
		Cloud: []check{{
			Valid:      block + ".aligned",
			MessageCUE: `"The cidr \({v}) has host bits set: the block starts at \(` + block + `.network); use that."`,
		}},
		IPv4Block: true,
	}
	if private {
		r.Cloud = append(r.Cloud, check{
			Valid:      block + ".private",
			MessageCUE: `"The cidr \({v}) is not a private IPv4 block: a VPC must lie inside ` + privateNames() + `."`,
		})
	}
	return r
}

// tagsRule: the module takes any map of strings; the cloud limits the
// number of tags and the length of keys and values (rules.Tags).
func tagsRule() rule {
	badKeys := fmt.Sprintf(`[for k, _ in {v} if len(k) < 1 || len(k) > %d {k}]`, rules.MaxTagKeyLen)
	longValues := fmt.Sprintf(`[for k, x in {v} if len(x) > %d {k}]`, rules.MaxTagValueLen)
	return rule{Cloud: []check{
		{
			Valid:      fmt.Sprintf(`len({v}) <= %d`, rules.MaxTags),
			MessageCUE: fmt.Sprintf(`"The tags hold \(len({v})) tags: mycloud allows at most %d."`, rules.MaxTags),
		},
		{
			Valid:      fmt.Sprintf(`len(%s) == 0`, badKeys),
			MessageCUE: fmt.Sprintf(`"The tag key \"\(%s[0])\" must be 1-%d characters."`, badKeys, rules.MaxTagKeyLen),
		},
		{
			Valid:      fmt.Sprintf(`len(%s) == 0`, longValues),
			MessageCUE: fmt.Sprintf(`"The value of tag \"\(%s[0])\" is longer than %d characters, the most mycloud allows."`, longValues, rules.MaxTagValueLen),
		},
	}}
}

// The rules mirror the validation blocks of the modules in definitions/modules
// (and, for passwords, which the modules leave unvalidated because Terraform
// 1.5 echoes a rejected sensitive value, internal/mycloud/rules.Password),
// then add the cloud's own rules that need no lookup.
var (
	nameRule       = rule{Valid: []string{`{v} =~ "^[a-z][a-z0-9-]{0,61}[a-z0-9]$"`}}
	vpcCIDRRule    = cidrRule(rules.VPCMinBits, rules.VPCMaxBits, true)
	subnetCIDRRule = cidrRule(rules.SubnetMinBits, rules.SubnetMaxBits, false)
	subnetIDRule   = rule{Valid: []string{`{v} =~ "^subnet-[a-z0-9]+$"`}}
	passwordRule   = rule{
		// len counts bytes, as the cloud's policy does; the classes are
		// Unicode upper-case letter, lower-case letter and decimal digit.
		Valid:   []string{`len({v}) >= 12 && len({v}) <= 128 && {v} =~ #"\p{Lu}"# && {v} =~ #"\p{Ll}"# && {v} =~ #"\p{Nd}"#`},
		Message: "must be 12-128 characters with an upper-case letter, a lower-case letter and a digit",
	}
)

var components = []component{
	{
		Type:        "vpc",
		Description: "A mycloud VPC (private IPv4 network), provisioned by terraform-controller from the module definitions/modules/vpc.",
		Rules: map[string]rule{
			"name": nameRule,
			"cidr": vpcCIDRRule,
			"tags": tagsRule(),
		},
	},
	{
		Type:        "subnet",
		Description: "A mycloud subnet inside a VPC, provisioned by terraform-controller from the module definitions/modules/subnet.",
		Rules: map[string]rule{
			"name":   nameRule,
			"vpc_id": {Valid: []string{`{v} =~ "^vpc-[a-z0-9]+$"`}},
			"cidr":   subnetCIDRRule,
			"zone":   zoneRule(),
			"tags":   tagsRule(),
		},
	},
	{
		Type:        "mysql",
		Description: "A mycloud MySQL instance in a subnet, provisioned by terraform-controller from the module definitions/modules/mysql.",
		Rules: map[string]rule{
			"name":           nameRule,
			"subnet_id":      subnetIDRule,
			"engine_version": {Valid: []string{`{v} == "5.7" || {v} == "8.0"`}},
			"instance_class": {Valid: []string{`{v} == "db.small" || {v} == "db.medium" || {v} == "db.large"`}},
			"storage_gib":    {Valid: []string{`({v} & int) != _|_ && {v} >= 20 && {v} <= 16384`}},
			"admin_password": passwordRule,
			"tags":           tagsRule(),
		},
		ManagedPassword: &managedPassword{Password: "admin_password", Flag: "manage_admin_password", Keep: "keep_existing_password"},
	},
	{
		Type:        "redis",
		Description: "A mycloud Redis instance in a subnet, provisioned by terraform-controller from the module definitions/modules/redis.",
		Rules: map[string]rule{
			"name":          nameRule,
			"subnet_id":     subnetIDRule,
			"redis_version": {Valid: []string{`{v} == "6.2" || {v} == "7.0"`}},
			"memory_mib":    {Valid: []string{`({v} & int) != _|_ && {v} >= 256 && {v} <= 65536`, `mod({v}, 256) == 0`}},
			"password":      passwordRule,
			"tags":          tagsRule(),
		},
		ManagedPassword: &managedPassword{Password: "password", Flag: "manage_password", Keep: "keep_existing_password"},
	},
	{
		Type:        "vpc-ref",
		Description: "A mycloud VPC that another application owns, used by id without owning it: a read-only Configuration (a data source, from the module definitions/modules/vpc-ref) that creates and destroys nothing and writes the owner's outputs to this application's connection Secret.",
		Rules:       map[string]rule{"id": {Valid: []string{`{v} =~ "^vpc-[a-z0-9]+$"`}}},
	},
	{
		Type:        "subnet-ref",
		Description: "A mycloud subnet that another application owns, used by id without owning it: a read-only Configuration (a data source, from the module definitions/modules/subnet-ref) that creates and destroys nothing and writes the owner's outputs to this application's connection Secret.",
		Rules:       map[string]rule{"id": {Valid: []string{`{v} =~ "^subnet-[a-z0-9]+$"`}}},
	},
	{
		Type:        "redis-ref",
		Description: "A mycloud Redis instance that another application owns, used by id without owning it: a read-only Configuration (a data source, from the module definitions/modules/redis-ref) that creates and destroys nothing and writes the owner's outputs to this application's connection Secret.",
		Rules:       map[string]rule{"id": {Valid: []string{`{v} =~ "^redis-[a-z0-9]+$"`}}},
	},
	{
		Type:        "mysql-ref",
		Description: "A mycloud MySQL instance that another application owns, used by id without owning it: a read-only Configuration (a data source, from the module definitions/modules/mysql-ref) that creates and destroys nothing and writes the owner's outputs to this application's connection Secret.",
		Rules:       map[string]rule{"id": {Valid: []string{`{v} =~ "^mysql-[a-z0-9]+$"`}}},
	},
	{
		Type:        "bucket",
		Description: "A mycloud object storage bucket, provisioned by terraform-controller from the module definitions/modules/bucket.",
		Rules: map[string]rule{
			"name": {Valid: []string{`{v} =~ "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" && {v} !~ #"\.\."#`}},
			"acl":  {Valid: []string{`{v} == "private" || {v} == "public-read"`}},
			"tags": tagsRule(),
		},
	},
}
