package provider_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// TestAccImportBlockKeepsAGivenPassword: databases whose passwords their
// owners set (not managed by the cloud) are adopted by import blocks with
// neither the password nor the manage flag in the configuration, as the
// components do with keep_existing_password. The plan imports them and
// changes nothing, apply sends the cloud nothing but reads, and the state
// holds no password. They have a password to keep only while they exist: a
// change that replaces one plans a create, which needs a password, and the
// plan fails naming both attributes.
func TestAccImportBlockKeepsAGivenPassword(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs":            []map[string]any{{"id": "vpc-legacy01", "name": "legacy", "cidr": "10.20.0.0/16"}},
		"subnets":         []map[string]any{{"id": "subnet-legacy01", "name": "legacy", "vpc_id": "vpc-legacy01", "cidr": "10.20.1.0/24"}},
		"mysql-instances": []map[string]any{{"id": "mysql-legacy01", "name": "legacy-db", "subnet_id": "subnet-legacy01", "admin_password": password}},
		"redis-instances": []map[string]any{{"id": "redis-legacy01", "name": "legacy-cache", "subnet_id": "subnet-legacy01", "password": password}},
	}, nil)
	config := func(engineVersion string) string {
		return cloud.ProviderBlock() + fmt.Sprintf(`
resource "mycloud_mysql" "legacy" {
  name           = "legacy-db"
  subnet_id      = "subnet-legacy01"
  engine_version = %q
}
resource "mycloud_redis" "legacy" {
  name      = "legacy-cache"
  subnet_id = "subnet-legacy01"
}
`, engineVersion)
	}
	imports := `
import {
  to = mycloud_mysql.legacy
  id = "mysql-legacy01"
}
import {
  to = mycloud_redis.legacy
  id = "redis-legacy01"
}
`
	resource.Test(t, testCase(
		resource.TestStep{
			Config: config("8.0") + imports,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("mycloud_mysql.legacy", plancheck.ResourceActionNoop),
				plancheck.ExpectResourceAction("mycloud_redis.legacy", plancheck.ResourceActionNoop),
				plancheck.ExpectKnownValue("mycloud_mysql.legacy", tfjsonpath.New("admin_password"), knownvalue.Null()),
				plancheck.ExpectKnownValue("mycloud_mysql.legacy", tfjsonpath.New("admin_password_secret_id"), knownvalue.Null()),
				plancheck.ExpectKnownValue("mycloud_redis.legacy", tfjsonpath.New("password"), knownvalue.Null()),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("mycloud_mysql.legacy", "id", "mysql-legacy01"),
				resource.TestCheckResourceAttr("mycloud_mysql.legacy", "manage_admin_password", "false"),
				resource.TestCheckNoResourceAttr("mycloud_mysql.legacy", "admin_password"),
				resource.TestCheckResourceAttr("mycloud_redis.legacy", "id", "redis-legacy01"),
				resource.TestCheckNoResourceAttr("mycloud_redis.legacy", "password"),
				func(s *terraform.State) error {
					state, err := json.Marshal(s)
					if err != nil {
						return err
					}
					if strings.Contains(string(state), password) {
						return fmt.Errorf("the owners' password is in the Terraform state")
					}
					return nil
				},
				noWritesTo(cloud),
			),
		},
		// Adopted: the import blocks can go, and nothing is left to do.
		resource.TestStep{Config: config("8.0"), PlanOnly: true},
		// Another engine version replaces the instance, and a new one
		// cannot be created without a password.
		resource.TestStep{
			Config: config("5.7"), PlanOnly: true,
			ExpectError: regexp.MustCompile(`Missing admin_password or manage_admin_password[\s\S]*set\s+admin_password,\s+or\s+set\s+manage_admin_password\s+=\s+true`),
		},
	))
}

// noWritesTo checks that Terraform has sent the cloud's API nothing but
// reads.
func noWritesTo(cloud *mycloudtest.Cloud) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, r := range cloud.Requests() {
			if r.Method != http.MethodGet && strings.HasPrefix(r.Path, "/v1/") {
				return fmt.Errorf("adopting the instances sent %s %s (HTTP %d)", r.Method, r.Path, r.Status)
			}
		}
		return nil
	}
}
