// Package rules holds mycloud's input rules (names, CIDR blocks, zones,
// tags, the password policy), shared by the simulator, the Terraform
// provider and the component definitions' render-time checks
// (definitions/gen), so they agree by construction. Each error says what is
// wrong, not which field: the caller names the field.
package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

var (
	nameRE       = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)
	bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	idRE         = regexp.MustCompile(`^[a-z]+-[a-z0-9]{1,32}$`)
	// The prefixes some name can start with: the name patterns without
	// their last character and minimum length.
	namePrefixRE       = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	bucketNamePrefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)
	dnsLabelRE         = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Name is the rule for names of VPCs, subnets and database instances.
func Name(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("must be 2-63 characters of lower-case letters, digits and '-', starting with a letter and not ending with '-'")
	}
	return nil
}

// BucketName is the rule for bucket names, unique in the whole cloud.
func BucketName(s string) error {
	if !bucketNameRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("must be 3-63 characters of lower-case letters, digits, '.' and '-', starting and ending with a letter or digit")
	}
	return nil
}

// MaxNamePrefixLen is the longest name prefix a list filter takes: a name
// has at most 63 characters.
const MaxNamePrefixLen = 63

// NamePrefix is the rule for a list filter on the start of a VPC's,
// subnet's or database instance's name: one that no name can start with
// would silently match nothing, so it is refused.
func NamePrefix(s string) error {
	if !namePrefixRE.MatchString(s) {
		return fmt.Errorf("must be 1-%d characters of lower-case letters, digits and '-', starting with a letter, as names do; got %q", MaxNamePrefixLen, s)
	}
	return nil
}

// BucketNamePrefix is NamePrefix for bucket names.
func BucketNamePrefix(s string) error {
	if !bucketNamePrefixRE.MatchString(s) {
		return fmt.Errorf("must be 1-%d characters of lower-case letters, digits, '.' and '-', starting with a letter or digit, as bucket names do; got %q", MaxNamePrefixLen, s)
	}
	return nil
}

// Project is the rule for the project of a scoped access key, which the
// key's resources carry as their tag project: a DNS label (RFC 1123), so a
// project name can also name a namespace or a host.
func Project(s string) error {
	if !dnsLabelRE.MatchString(s) {
		return fmt.Errorf("must be a DNS label: 1-63 characters of lower-case letters, digits and '-', starting and ending with a letter or digit; got %q", s)
	}
	return nil
}

// zones are the cloud's availability zones, the only ones it has.
var zones = []string{"zone-a", "zone-b", "zone-c"}

// Zones returns the cloud's availability zones, in order. definitions/gen
// renders the components' zone check from it.
func Zones() []string { return slices.Clone(zones) }

// Zone is the rule for availability zones: one of Zones.
func Zone(s string) error {
	if !slices.Contains(zones, s) {
		return fmt.Errorf("%q is not a mycloud zone: use one of %s", s, strings.Join(zones, ", "))
	}
	return nil
}

// Prefix lengths the cloud accepts: a VPC from /16 to /28, a subnet from
// /16 to /29.
const (
	VPCMinBits    = 16
	VPCMaxBits    = 28
	SubnetMinBits = 16
	SubnetMaxBits = 29
)

// privateRanges are the RFC 1918 blocks a VPC must lie in.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// PrivateRanges returns the blocks a VPC's block must lie in, in order.
// definitions/gen renders the components' private-range check from it.
func PrivateRanges() []netip.Prefix { return slices.Clone(privateRanges) }

// VPCCIDR is the rule for a VPC's address block.
func VPCCIDR(s string) error {
	p, err := cidr(s)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(privateRanges, func(r netip.Prefix) bool { return r.Bits() <= p.Bits() && r.Contains(p.Addr()) }) {
		names := make([]string, len(privateRanges))
		for i, r := range privateRanges {
			names[i] = r.String()
		}
		return fmt.Errorf("%s is not a private range (%s)", p, strings.Join(names, ", "))
	}
	if p.Bits() < VPCMinBits || p.Bits() > VPCMaxBits {
		return fmt.Errorf("prefix length /%d is outside /%d to /%d", p.Bits(), VPCMinBits, VPCMaxBits)
	}
	return nil
}

// SubnetCIDR is the rule for a subnet's address block on its own; that it
// lies inside its VPC's block is checked by the cloud.
func SubnetCIDR(s string) error {
	p, err := cidr(s)
	if err != nil {
		return err
	}
	if p.Bits() < SubnetMinBits || p.Bits() > SubnetMaxBits {
		return fmt.Errorf("prefix length /%d is outside /%d to /%d", p.Bits(), SubnetMinBits, SubnetMaxBits)
	}
	return nil
}

func cidr(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 CIDR block such as 10.0.0.0/16", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// Limits of a resource's tags.
const (
	MaxTags        = 50
	MaxTagKeyLen   = 128 // bytes; a key has at least one
	MaxTagValueLen = 256 // bytes
)

// Tags is the rule for a resource's tags: at most MaxTags, each key 1 to
// MaxTagKeyLen bytes, each value at most MaxTagValueLen bytes. Keys are
// checked in order, so the error is the same for the same tags.
func Tags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("has %d tags; at most %d are allowed", len(tags), MaxTags)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" || len(k) > MaxTagKeyLen {
			return fmt.Errorf("key %q must be 1-%d characters", k, MaxTagKeyLen)
		}
		if len(tags[k]) > MaxTagValueLen {
			return fmt.Errorf("value of %q is longer than %d characters", k, MaxTagValueLen)
		}
	}
	return nil
}

// Password is the cloud's password policy. The error never echoes the value.
func Password(s string) error {
	var upper, lower, digit bool
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if len(s) < 12 || len(s) > 128 || !upper || !lower || !digit {
		return fmt.Errorf("must be 12-128 characters with an upper-case letter, a lower-case letter and a digit")
	}
	return nil
}

// ID checks the shape of a resource id with the given prefix (such as
// "vpc-"), as an import id must have.
func ID(prefix, s string) error {
	if !strings.HasPrefix(s, prefix) || !idRE.MatchString(s) {
		return fmt.Errorf("%q is not a mycloud id of the form %s<lower-case letters and digits>", s, prefix)
	}
	return nil
}
