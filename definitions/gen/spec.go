package main

import (
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
	// ManagedPassword, for a database, names its password and the flag that
	// lets mycloud generate and keep the password instead.
	ManagedPassword *managedPassword
}

// managedPassword: a property pair of which exactly one is given, the
// password (a sensitive variable whose default is null) or the flag set to
// true (a bool variable whose default is false). Rendering fails naming both
// otherwise, as the provider does at plan time (a Terraform 1.5 validation
// block sees one variable only).
type managedPassword struct {
	Password, Flag string
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
	// does not (which zones exist), each with its own message, read from
	// internal/mycloud/rules. They are evaluated after Valid holds.
	Cloud []check
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

// The rules mirror the validation blocks of the modules in definitions/modules
// (and, for passwords, which the modules leave unvalidated because Terraform
// 1.5 echoes a rejected sensitive value, internal/mycloud/rules.Password).
var (
	nameRule = rule{Valid: []string{`{v} =~ "^[a-z][a-z0-9-]{0,61}[a-z0-9]$"`}}
	// IPv4 CIDR block: four octets 0-255 without leading zeros, then the prefix.
	vpcCIDRRule    = rule{Valid: []string{`{v} =~ #"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(1[6-9]|2[0-8])$"#`}}
	subnetCIDRRule = rule{Valid: []string{`{v} =~ #"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(1[6-9]|2[0-9])$"#`}}
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
		},
		ManagedPassword: &managedPassword{Password: "admin_password", Flag: "manage_admin_password"},
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
		},
		ManagedPassword: &managedPassword{Password: "password", Flag: "manage_password"},
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
		},
	},
}
