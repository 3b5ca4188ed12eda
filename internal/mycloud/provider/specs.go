package provider

import (
	"github.com/vela-infra/vela-infra/internal/mycloud"
	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

type attrKind int

const (
	kindString attrKind = iota
	kindInt
	kindBool
	kindTags
)

// attrSpec describes one argument of a resource.
type attrSpec struct {
	name        string
	kind        attrKind
	description string
	required    bool
	// def is the server default, declared in the schema so plans show it.
	def any
	// immutable attributes force a replacement when changed.
	immutable bool
	// writeOnly attributes are sensitive and never returned by the API: the
	// state keeps what the configuration set.
	writeOnly bool
	rule      func(string) error // for strings
	enum      []string
	min, max  int64 // for ints, when max > 0
	step      int64 // for ints, a required multiple
}

// resourceSpec describes one resource type.
type resourceSpec struct {
	typeName    string // mycloud_<typeName>
	apiKind     string
	idPrefix    string
	description string
	attrs       []attrSpec
	// computed lists read-only string or int attributes returned by the API.
	computed []computedSpec
	// managed is set when the cloud can generate the password (see
	// managedSpec).
	managed *managedSpec
}

// managedSpec names the attributes of a database whose password the cloud
// can manage: the configuration sets at most one of password (write-only,
// sensitive) and flag (true: the cloud generates the password and keeps it
// as a secret), a new instance exactly one (an imported one with neither
// keeps its password); secretID, computed, is that secret's id. The flag forces a
// replacement when it changes, as the cloud decides it at creation.
type managedSpec struct {
	password, flag, secretID string
}

type computedSpec struct {
	name, description string
	kind              attrKind
}

var (
	tagsAttr     = attrSpec{name: "tags", kind: kindTags, def: map[string]string{}, description: "Tags of the resource."}
	statusAttr   = computedSpec{name: "status", description: "Lifecycle status reported by the cloud (available once created)."}
	endpointAttr = computedSpec{name: "endpoint", description: "Host name clients connect to."}
	portAttr     = computedSpec{name: "port", kind: kindInt, description: "Port clients connect to."}
)

var vpcSpec = &resourceSpec{
	typeName: "vpc", apiKind: mycloud.KindVPC, idPrefix: "vpc-",
	description: "A virtual private network.",
	attrs: []attrSpec{
		{name: "name", required: true, rule: rules.Name, description: "Name of the VPC."},
		{name: "cidr", required: true, immutable: true, rule: rules.VPCCIDR, description: "Private IPv4 block, /16 to /28. Changing it replaces the VPC."},
		tagsAttr,
	},
	computed: []computedSpec{statusAttr},
}

var subnetSpec = &resourceSpec{
	typeName: "subnet", apiKind: mycloud.KindSubnet, idPrefix: "subnet-",
	description: "A subnet of a VPC in one zone.",
	attrs: []attrSpec{
		{name: "name", required: true, rule: rules.Name, description: "Name of the subnet."},
		{name: "vpc_id", required: true, immutable: true, rule: func(s string) error { return rules.ID("vpc-", s) }, description: "Id of the VPC."},
		{name: "cidr", required: true, immutable: true, rule: rules.SubnetCIDR, description: "IPv4 block inside the VPC's, /16 to /29."},
		{name: "zone", def: "zone-a", immutable: true, rule: rules.Zone, description: "Availability zone."},
		tagsAttr,
	},
	computed: []computedSpec{statusAttr},
}

var resourceSpecs = []*resourceSpec{
	vpcSpec,
	subnetSpec,
	{
		typeName: "mysql", apiKind: mycloud.KindMySQL, idPrefix: "mysql-",
		description: "A managed MySQL instance in a subnet.",
		attrs: []attrSpec{
			{name: "name", required: true, immutable: true, rule: rules.Name, description: "Name of the instance."},
			{name: "subnet_id", required: true, immutable: true, rule: func(s string) error { return rules.ID("subnet-", s) }, description: "Id of the subnet."},
			{name: "engine_version", def: "8.0", immutable: true, enum: []string{"5.7", "8.0"}, description: "MySQL version; changing it replaces the instance."},
			{name: "instance_class", def: "db.small", enum: []string{"db.small", "db.medium", "db.large"}, description: "Instance size."},
			{name: "storage_gib", kind: kindInt, def: int64(20), min: 20, max: 16384, description: "Storage in GiB, 20 to 16384."},
			{name: "admin_user", def: "admin", immutable: true, rule: rules.Name, description: "Name of the administrator account."},
			{name: "admin_password", writeOnly: true, rule: rules.Password, description: "Administrator password: 12-128 characters with upper- and lower-case letters and a digit. A new instance sets exactly one of admin_password and manage_admin_password = true; an imported one may set neither and keeps its password."},
			{name: "manage_admin_password", kind: kindBool, def: false, immutable: true, description: "true: the cloud generates the administrator password and keeps it as a secret (admin_password_secret_id); admin_password must then be unset. Changing it replaces the instance."},
			tagsAttr,
		},
		computed: []computedSpec{statusAttr, endpointAttr, portAttr,
			{name: "admin_password_secret_id", description: "With manage_admin_password, the id of the secret that holds the administrator password (read it with the mycloud API, GET /v1/secrets/<id>/value); null otherwise."}},
		managed: &managedSpec{password: "admin_password", flag: "manage_admin_password", secretID: "admin_password_secret_id"},
	},
	{
		typeName: "redis", apiKind: mycloud.KindRedis, idPrefix: "redis-",
		description: "A managed Redis instance in a subnet.",
		attrs: []attrSpec{
			{name: "name", required: true, immutable: true, rule: rules.Name, description: "Name of the instance."},
			{name: "subnet_id", required: true, immutable: true, rule: func(s string) error { return rules.ID("subnet-", s) }, description: "Id of the subnet."},
			{name: "version", def: "7.0", immutable: true, enum: []string{"6.2", "7.0"}, description: "Redis version; changing it replaces the instance."},
			{name: "memory_mib", kind: kindInt, def: int64(1024), min: 256, max: 65536, step: 256, description: "Memory in MiB, 256 to 65536, a multiple of 256."},
			{name: "password", writeOnly: true, rule: rules.Password, description: "Access password: 12-128 characters with upper- and lower-case letters and a digit. A new instance sets exactly one of password and manage_password = true; an imported one may set neither and keeps its password."},
			{name: "manage_password", kind: kindBool, def: false, immutable: true, description: "true: the cloud generates the access password and keeps it as a secret (password_secret_id); password must then be unset. Changing it replaces the instance."},
			tagsAttr,
		},
		computed: []computedSpec{statusAttr, endpointAttr, portAttr,
			{name: "password_secret_id", description: "With manage_password, the id of the secret that holds the access password (read it with the mycloud API, GET /v1/secrets/<id>/value); null otherwise."}},
		managed: &managedSpec{password: "password", flag: "manage_password", secretID: "password_secret_id"},
	},
	{
		typeName: "bucket", apiKind: mycloud.KindBucket, idPrefix: "bucket-",
		description: "An object storage bucket; its name is unique in the cloud.",
		attrs: []attrSpec{
			{name: "name", required: true, immutable: true, rule: rules.BucketName, description: "Name, unique in the cloud."},
			{name: "acl", def: "private", enum: []string{"private", "public-read"}, description: "Access: private or public-read."},
			{name: "versioning", kind: kindBool, def: false, description: "Keep old versions of objects."},
			tagsAttr,
		},
		computed: []computedSpec{statusAttr, {name: "url", description: "URL of the bucket."}},
	},
}
