package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/mycloud/provider"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// TestMain makes the acceptance tests run whenever the package's tests run:
// they need no real cloud, only mycloud and the Terraform CLI from bin/.
func TestMain(m *testing.M) {
	os.Setenv("TF_ACC", "1")
	os.Setenv("CHECKPOINT_DISABLE", "1")
	// The provider under test is served in-process; an empty CLI config
	// keeps Terraform from reading the machine's.
	if f, err := os.CreateTemp("", "terraformrc-"); err == nil {
		f.Close()
		os.Setenv("TF_CLI_CONFIG_FILE", f.Name())
	}
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		tf := filepath.Join(root, "bin", "terraform")
		if _, err := os.Stat(tf); err != nil {
			fmt.Fprintf(os.Stderr, "terraform not found at %s: run `make tools`\n", tf)
			os.Exit(1)
		}
		os.Setenv("TF_ACC_TERRAFORM_PATH", tf)
	}
	os.Exit(m.Run())
}

var factories = map[string]func() (tfprotov6.ProviderServer, error){
	"mycloud": providerserver.NewProtocol6WithError(provider.New("test")()),
}

func testCase(steps ...resource.TestStep) resource.TestCase {
	return resource.TestCase{ProtoV6ProviderFactories: factories, Steps: steps}
}

const password = "Sentinel-DbPassw0rd"

func stackConfig(c *mycloudtest.Cloud, storage, memory int, acl string) string {
	return c.ProviderBlock() + fmt.Sprintf(`
resource "mycloud_vpc" "main" {
  name = "main"
  cidr = "10.0.0.0/16"
  tags = { team = "platform" }
}
resource "mycloud_subnet" "app" {
  name   = "app"
  vpc_id = mycloud_vpc.main.id
  cidr   = "10.0.1.0/24"
}
resource "mycloud_mysql" "db" {
  name           = "orders"
  subnet_id      = mycloud_subnet.app.id
  admin_password = %q
  storage_gib    = %d
}
resource "mycloud_redis" "cache" {
  name       = "cache"
  subnet_id  = mycloud_subnet.app.id
  password   = %q
  memory_mib = %d
}
resource "mycloud_bucket" "assets" {
  name = "assets-bucket"
  acl  = %q
}
data "mycloud_vpc" "by_tag" {
  tags       = { team = "platform" }
  depends_on = [mycloud_vpc.main]
}
data "mycloud_subnet" "by_name" {
  name       = "app"
  vpc_id     = mycloud_vpc.main.id
  depends_on = [mycloud_subnet.app]
}
data "mycloud_redis" "by_id" {
  id = mycloud_redis.cache.id
}
data "mycloud_mysql" "by_id" {
  id = mycloud_mysql.db.id
}
`, password, storage, password, memory, acl)
}

func TestAccAllResourcesCRUDAndImport(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 300 * time.Millisecond})
	resource.Test(t, testCase(
		resource.TestStep{
			Config: stackConfig(cloud, 20, 1024, "private"),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestMatchResourceAttr("mycloud_vpc.main", "id", regexp.MustCompile(`^vpc-`)),
				resource.TestCheckResourceAttr("mycloud_vpc.main", "status", "available"),
				resource.TestCheckResourceAttr("mycloud_subnet.app", "zone", "zone-a"),
				resource.TestCheckResourceAttr("mycloud_mysql.db", "engine_version", "8.0"),
				resource.TestCheckResourceAttr("mycloud_mysql.db", "port", "3306"),
				resource.TestMatchResourceAttr("mycloud_mysql.db", "endpoint", regexp.MustCompile(`\.mysql\.mycloud\.internal$`)),
				resource.TestCheckResourceAttr("mycloud_redis.cache", "version", "7.0"),
				resource.TestCheckResourceAttr("mycloud_bucket.assets", "versioning", "false"),
				resource.TestCheckResourceAttrPair("data.mycloud_vpc.by_tag", "id", "mycloud_vpc.main", "id"),
				resource.TestCheckResourceAttrPair("data.mycloud_subnet.by_name", "cidr", "mycloud_subnet.app", "cidr"),
				// The reference components' data sources: endpoints, never
				// a password.
				resource.TestCheckResourceAttrPair("data.mycloud_redis.by_id", "endpoint", "mycloud_redis.cache", "endpoint"),
				resource.TestCheckResourceAttrPair("data.mycloud_mysql.by_id", "port", "mycloud_mysql.db", "port"),
				resource.TestCheckNoResourceAttr("data.mycloud_redis.by_id", "password"),
			),
		},
		resource.TestStep{
			Config: stackConfig(cloud, 40, 2048, "public-read"),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("mycloud_mysql.db", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("mycloud_redis.cache", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("mycloud_bucket.assets", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("mycloud_vpc.main", plancheck.ResourceActionNoop),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("mycloud_mysql.db", "storage_gib", "40"),
				resource.TestCheckResourceAttr("mycloud_redis.cache", "memory_mib", "2048"),
				resource.TestCheckResourceAttr("mycloud_bucket.assets", "acl", "public-read"),
			),
		},
		// terraform import of each kind, compared attribute by attribute
		// with what apply recorded; passwords are write-only in the cloud.
		importStep("mycloud_vpc.main"),
		importStep("mycloud_subnet.app"),
		importStep("mycloud_mysql.db", "admin_password"),
		importStep("mycloud_redis.cache", "password"),
		importStep("mycloud_bucket.assets"),
	))
	if n := cloud.CountRequests(http.MethodGet, "/v1/"); n == 0 {
		t.Fatal("no API calls reached the mycloud process")
	}
}

func importStep(name string, ignore ...string) resource.TestStep {
	return resource.TestStep{ResourceName: name, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: ignore}
}

func TestAccImportBlock(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs": []map[string]any{{"id": "vpc-legacy01", "name": "legacy", "cidr": "10.20.0.0/16"}},
	}, nil)
	config := cloud.ProviderBlock() + `
resource "mycloud_vpc" "legacy" {
  name = "legacy"
  cidr = "10.20.0.0/16"
}
`
	resource.Test(t, testCase(
		resource.TestStep{
			Config: config, ResourceName: "mycloud_vpc.legacy", ImportState: true,
			ImportStateKind: resource.ImportBlockWithID, ImportStateId: "vpc-legacy01",
		},
	))
	if n := cloud.CountRequests(http.MethodPost, "/v1/vpcs") + cloud.CountRequests(http.MethodDelete, "/v1/vpcs"); n != 0 {
		t.Fatalf("importing an existing VPC created or deleted %d VPCs", n)
	}
}

func TestAccDriftAndReplace(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	vpc := func(cidr string) string {
		return cloud.ProviderBlock() + fmt.Sprintf(`
resource "mycloud_vpc" "main" {
  name = "main"
  cidr = %q
  tags = { env = "prod" }
}
`, cidr)
	}
	var id string
	resource.Test(t, testCase(
		resource.TestStep{Config: vpc("10.0.0.0/16"), Check: func(s *terraform.State) error {
			id = s.RootModule().Resources["mycloud_vpc.main"].Primary.ID
			return nil
		}},
		// Someone edits the VPC in the console: the next plan wants it back.
		resource.TestStep{
			PreConfig: func() {
				cloud.MustAdmin(http.MethodPatch, "resources/vpcs/"+id, map[string]any{"tags": map[string]string{"env": "dev"}}, nil)
			},
			Config: vpc("10.0.0.0/16"), PlanOnly: true, ExpectNonEmptyPlan: true,
		},
		resource.TestStep{
			Config: vpc("10.0.0.0/16"),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("mycloud_vpc.main", plancheck.ResourceActionUpdate),
			}},
			Check: resource.TestCheckResourceAttr("mycloud_vpc.main", "tags.env", "prod"),
		},
		// A VPC's CIDR cannot change in place: the plan says replace.
		resource.TestStep{
			Config: vpc("10.1.0.0/16"),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("mycloud_vpc.main", plancheck.ResourceActionDestroyBeforeCreate),
			}},
			Check: resource.TestCheckResourceAttr("mycloud_vpc.main", "cidr", "10.1.0.0/16"),
		},
		// Deleted outside Terraform: the plan creates it again.
		resource.TestStep{
			PreConfig: func() { cloud.MustAdmin(http.MethodPost, "reset", nil, nil) },
			Config:    vpc("10.1.0.0/16"), PlanOnly: true, ExpectNonEmptyPlan: true,
		},
	))
}

func TestAccRecoversFromThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	resource.Test(t, testCase(
		resource.TestStep{
			PreConfig: func() {
				cloud.MustAdmin(http.MethodPost, "faults", map[string]any{"method": "POST", "path": "/v1/buckets", "status": 503, "count": 2}, nil)
				cloud.MustAdmin(http.MethodPost, "faults", map[string]any{"method": "GET", "path": "/v1/buckets/", "status": 429, "retry_after_seconds": 1, "count": 1}, nil)
			},
			Config: cloud.ProviderBlock() + `resource "mycloud_bucket" "b" { name = "flaky-bucket" }`,
			Check:  resource.TestCheckResourceAttr("mycloud_bucket.b", "status", "available"),
		},
	))
	var faulted int
	for _, r := range cloud.Requests() {
		if r.Status == 503 || r.Status == 429 {
			faulted++
		}
	}
	if faulted != 3 {
		t.Fatalf("want the 3 injected faults in the request log, got %d", faulted)
	}
}

func TestAccBadInput(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	cases := map[string]struct{ hcl, want string }{
		"vpc cidr":        {`resource "mycloud_vpc" "x" { name = "x1", cidr = "10.0.0.0/33" }`, `cidr`},
		"vpc cidr public": {`resource "mycloud_vpc" "x" { name = "x1", cidr = "8.8.0.0/16" }`, `cidr[\s\S]*not a private range`},
		"vpc name":        {`resource "mycloud_vpc" "x" { name = "Not_Valid", cidr = "10.0.0.0/16" }`, `name[\s\S]*lower-case`},
		"subnet zone":     {`resource "mycloud_subnet" "x" { name = "x1", vpc_id = "vpc-abc", cidr = "10.0.0.0/24", zone = "mars" }`, `zone`},
		"subnet vpc id":   {`resource "mycloud_subnet" "x" { name = "x1", vpc_id = "subnet-abc", cidr = "10.0.0.0/24" }`, `vpc_id[\s\S]*vpc-`},
		"mysql storage":   {`resource "mycloud_mysql" "x" { name = "x1", subnet_id = "subnet-a", admin_password = "Aa1aaaaaaaaaaa", storage_gib = 5 }`, `storage_gib`},
		"mysql password":  {`resource "mycloud_mysql" "x" { name = "x1", subnet_id = "subnet-a", admin_password = "weak" }`, `admin_password[\s\S]*12-128`},
		"mysql engine":    {`resource "mycloud_mysql" "x" { name = "x1", subnet_id = "subnet-a", admin_password = "Aa1aaaaaaaaaaa", engine_version = "9" }`, `engine_version`},
		"redis memory":    {`resource "mycloud_redis" "x" { name = "x1", subnet_id = "subnet-a", password = "Aa1aaaaaaaaaaa", memory_mib = 300 }`, `memory_mib[\s\S]*multiple of 256`},
		// Exactly one of the password and the manage flag, at plan time.
		"mysql neither password nor manage":   {`resource "mycloud_mysql" "x" { name = "x1", subnet_id = "subnet-a" }`, `Missing admin_password or manage_admin_password[\s\S]*exactly\s+one\s+of\s+admin_password\s+and\s+manage_admin_password`},
		"mysql manage false without password": {`resource "mycloud_mysql" "x" { name = "x1", subnet_id = "subnet-a", manage_admin_password = false }`, `Missing admin_password or manage_admin_password`},
		"mysql password and manage":           {`resource "mycloud_mysql" "x" { name = "x1", subnet_id = "subnet-a", admin_password = "Aa1aaaaaaaaaaa", manage_admin_password = true }`, `Conflicting admin_password and manage_admin_password[\s\S]*set\s+exactly\s+one`},
		"redis neither password nor manage":   {`resource "mycloud_redis" "x" { name = "x1", subnet_id = "subnet-a" }`, `Missing password or manage_password`},
		"redis password and manage":           {`resource "mycloud_redis" "x" { name = "x1", subnet_id = "subnet-a", password = "Aa1aaaaaaaaaaa", manage_password = true }`, `Conflicting password and manage_password`},
		"bucket acl":                          {`resource "mycloud_bucket" "x" { name = "abc", acl = "world" }`, `acl`},
		"bucket name":                         {`resource "mycloud_bucket" "x" { name = "-bad" }`, `name`},
	}
	var steps []resource.TestStep
	for _, tc := range cases {
		steps = append(steps, resource.TestStep{
			Config:      cloud.ProviderBlock() + strings.NewReplacer("{ ", "{\n", ", ", "\n", " }", "\n}").Replace(tc.hcl),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?i)` + tc.want),
		})
	}
	// An import id of the wrong shape is refused before any API call.
	steps = append(steps, resource.TestStep{
		Config:       cloud.ProviderBlock() + "resource \"mycloud_vpc\" \"x\" {\n  name = \"x1\"\n  cidr = \"10.0.0.0/16\"\n}\n",
		ResourceName: "mycloud_vpc.x", ImportState: true, ImportStateId: "subnet-123",
		ExpectError: regexp.MustCompile(`Invalid import id[\s\S]*vpc-`),
	})
	// A subnet outside its VPC passes the provider's checks and is refused
	// by the cloud, on the attribute.
	steps = append(steps, resource.TestStep{
		Config: cloud.ProviderBlock() + `
resource "mycloud_vpc" "v" {
  name = "v1"
  cidr = "10.0.0.0/16"
}
resource "mycloud_subnet" "s" {
  name   = "s1"
  vpc_id = mycloud_vpc.v.id
  cidr   = "10.9.0.0/24"
}`,
		ExpectError: regexp.MustCompile(`cidr[\s\S]*not inside the CIDR 10.0.0.0/16`),
	})
	resource.Test(t, testCase(steps...))
	if n := cloud.CountRequests(http.MethodPost, "/v1/subnets"); n != 1 {
		t.Fatalf("want exactly one subnet create attempt (the cloud-side refusal), got %d", n)
	}
}

func TestAccProviderConfigMissing(t *testing.T) {
	t.Setenv("MYCLOUD_ENDPOINT", "")
	t.Setenv("MYCLOUD_ACCESS_KEY", "")
	t.Setenv("MYCLOUD_SECRET_KEY", "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config:      `resource "mycloud_bucket" "b" { name = "abc" }`,
			ExpectError: regexp.MustCompile(`Missing mycloud endpoint[\s\S]*MYCLOUD_ENDPOINT`),
		}},
	})
}

// managedConfig is a subnet with a MySQL and a Redis instance; the MySQL
// instance's password is managed by the cloud unless adminPassword is set,
// the Redis instance's always is.
func managedConfig(c *mycloudtest.Cloud, adminPassword string) string {
	db := "  manage_admin_password = true"
	if adminPassword != "" {
		db = fmt.Sprintf("  admin_password = %q", adminPassword)
	}
	return c.ProviderBlock() + `
resource "mycloud_vpc" "main" {
  name = "main"
  cidr = "10.0.0.0/16"
}
resource "mycloud_subnet" "app" {
  name   = "app"
  vpc_id = mycloud_vpc.main.id
  cidr   = "10.0.1.0/24"
}
resource "mycloud_mysql" "db" {
  name      = "orders"
  subnet_id = mycloud_subnet.app.id
` + db + `
}
resource "mycloud_redis" "cache" {
  name            = "cache"
  subnet_id       = mycloud_subnet.app.id
  manage_password = true
}
`
}

// noManagedPasswordIn checks that no password the cloud keeps is in the
// Terraform state: the state holds the secrets' ids, never their values.
func noManagedPasswordIn(cloud *mycloudtest.Cloud, resources ...string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		cli := client.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
		state, err := json.Marshal(s)
		if err != nil {
			return err
		}
		for _, name := range resources {
			attrs := s.RootModule().Resources[name].Primary.Attributes
			for _, attr := range []string{"admin_password_secret_id", "password_secret_id"} {
				id := attrs[attr]
				if id == "" {
					continue
				}
				value, err := cli.SecretValue(context.Background(), id)
				if err != nil {
					return fmt.Errorf("%s.%s = %s: %w", name, attr, id, err)
				}
				if strings.Contains(string(state), value) {
					return fmt.Errorf("the password of %s (secret %s) is in the Terraform state", name, id)
				}
			}
		}
		return nil
	}
}

// TestAccManagedPasswords: with manage_admin_password / manage_password the
// cloud generates the password; the state holds the secret's id and no
// password, import fills the id, and turning management off replaces the
// instance (the cloud decides it at creation), deleting the old secret.
func TestAccManagedPasswords(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})
	var oldSecret string
	resource.Test(t, testCase(
		resource.TestStep{
			Config: managedConfig(cloud, ""),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue("mycloud_mysql.db", tfjsonpath.New("admin_password_secret_id")),
				plancheck.ExpectKnownValue("mycloud_mysql.db", tfjsonpath.New("admin_password"), knownvalue.Null()),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("mycloud_mysql.db", "manage_admin_password", "true"),
				resource.TestMatchResourceAttr("mycloud_mysql.db", "admin_password_secret_id", regexp.MustCompile(`^secret-[0-9a-f]+$`)),
				resource.TestCheckNoResourceAttr("mycloud_mysql.db", "admin_password"),
				resource.TestCheckResourceAttr("mycloud_redis.cache", "manage_password", "true"),
				resource.TestMatchResourceAttr("mycloud_redis.cache", "password_secret_id", regexp.MustCompile(`^secret-[0-9a-f]+$`)),
				resource.TestCheckNoResourceAttr("mycloud_redis.cache", "password"),
				noManagedPasswordIn(cloud, "mycloud_mysql.db", "mycloud_redis.cache"),
				func(s *terraform.State) error {
					oldSecret = s.RootModule().Resources["mycloud_mysql.db"].Primary.Attributes["admin_password_secret_id"]
					return nil
				},
			),
		},
		// terraform import fills the flag and the secret id from the cloud,
		// exactly as create recorded them, with nothing to ignore.
		importStep("mycloud_mysql.db"),
		importStep("mycloud_redis.cache"),
		// Management off: a new instance with the given password.
		resource.TestStep{
			Config: managedConfig(cloud, password),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("mycloud_mysql.db", plancheck.ResourceActionDestroyBeforeCreate),
				plancheck.ExpectKnownValue("mycloud_mysql.db", tfjsonpath.New("admin_password_secret_id"), knownvalue.Null()),
				plancheck.ExpectResourceAction("mycloud_redis.cache", plancheck.ResourceActionNoop),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("mycloud_mysql.db", "manage_admin_password", "false"),
				resource.TestCheckNoResourceAttr("mycloud_mysql.db", "admin_password_secret_id"),
				func(*terraform.State) error {
					_, err := client.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).SecretValue(context.Background(), oldSecret)
					if !client.IsNotFound(err) {
						return fmt.Errorf("the replaced instance's secret %s: want 404, got %v", oldSecret, err)
					}
					return nil
				},
			),
		},
	))
}

// TestAccImportBlockOfAManagedInstance: an instance made outside Terraform
// with a managed password is adopted by an import block with no change, its
// secret id read from the cloud.
func TestAccImportBlockOfAManagedInstance(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	var seeded map[string][]map[string]any
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs":            []map[string]any{{"id": "vpc-legacy01", "name": "legacy", "cidr": "10.20.0.0/16"}},
		"subnets":         []map[string]any{{"id": "subnet-legacy01", "name": "legacy", "vpc_id": "vpc-legacy01", "cidr": "10.20.1.0/24"}},
		"mysql-instances": []map[string]any{{"id": "mysql-legacy01", "name": "legacy-db", "subnet_id": "subnet-legacy01", "manage_admin_password": true}},
	}, &seeded)
	secretID, _ := seeded["mysql-instances"][0]["admin_password_secret_id"].(string)
	if !strings.HasPrefix(secretID, "secret-") {
		t.Fatalf("the seeded instance has no secret: %v", seeded["mysql-instances"])
	}
	config := cloud.ProviderBlock() + `
resource "mycloud_mysql" "legacy" {
  name                  = "legacy-db"
  subnet_id             = "subnet-legacy01"
  manage_admin_password = true
}
`
	resource.Test(t, testCase(
		resource.TestStep{
			Config: config, ResourceName: "mycloud_mysql.legacy", ImportState: true,
			ImportStateKind: resource.ImportBlockWithID, ImportStateId: "mysql-legacy01",
			ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue("mycloud_mysql.legacy", tfjsonpath.New("admin_password_secret_id"), knownvalue.StringExact(secretID)),
				plancheck.ExpectKnownValue("mycloud_mysql.legacy", tfjsonpath.New("admin_password"), knownvalue.Null()),
			}},
		},
	))
	if n := cloud.CountRequests(http.MethodPost, "/v1/mysql-instances") + cloud.CountRequests(http.MethodDelete, "/v1/mysql-instances"); n != 0 {
		t.Fatalf("importing an existing instance created or deleted %d instances", n)
	}
}

// TestAccResourcesDataSource: mycloud_resources lists the resources of one
// type matching every tag and a name prefix, sorted by id, each with its
// attributes as JSON that keeps numbers numbers; with a key scoped to a
// project it lists what that key sees (the project's and the shared), and
// a type that is not one is refused before any call.
func TestAccResourcesDataSource(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	vpc := func(id, name, cidr string, tags map[string]string) map[string]any {
		return map[string]any{"id": id, "name": name, "cidr": cidr, "tags": tags}
	}
	// One seed call each, so the cloud lists them in this order, which is
	// not the order of their ids.
	for _, v := range []map[string]any{
		vpc("vpc-b0000001", "shop-web-a", "10.1.0.0/16", map[string]string{"project": "shop", "team": "web"}),
		vpc("vpc-a0000002", "shop-web-b", "10.2.0.0/16", map[string]string{"project": "shop", "team": "web"}),
		vpc("vpc-c0000003", "shop-web-c", "10.3.0.0/16", map[string]string{"project": "other", "team": "web"}),
		vpc("vpc-d0000004", "shop-db", "10.4.0.0/16", map[string]string{"project": "shop", "team": "data"}),
		vpc("vpc-e0000005", "main-web", "10.5.0.0/16", map[string]string{"team": "web", "shared": "true"}),
	} {
		cloud.MustAdmin(http.MethodPost, "seed", map[string]any{"vpcs": []map[string]any{v}}, nil)
	}
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"subnets": []map[string]any{{"id": "subnet-a0000001", "name": "shop-db", "vpc_id": "vpc-d0000004", "cidr": "10.4.1.0/24", "tags": map[string]string{"project": "shop"}}},
		"mysql-instances": []map[string]any{{"id": "mysql-a0000001", "name": "orders", "subnet_id": "subnet-a0000001",
			"storage_gib": 40, "manage_admin_password": true, "tags": map[string]string{"project": "shop"}}},
	}, nil)
	var key struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	cloud.MustAdmin(http.MethodPost, "access-keys", map[string]any{"project": "shop"}, &key)
	scopedProvider := fmt.Sprintf("provider \"mycloud\" {\n  endpoint   = %q\n  access_key = %q\n  secret_key = %q\n}\n", cloud.URL, key.AccessKey, key.SecretKey)

	const lists = `
data "mycloud_resources" "web" {
  type        = "vpc"
  tags        = { team = "web" }
  name_prefix = "shop-web"
}
data "mycloud_resources" "none" {
  type        = "bucket"
  name_prefix = "nothing"
}
data "mycloud_resources" "dbs" {
  type = "mysql"
}
output "storage_plus_one" {
  value = jsondecode(data.mycloud_resources.dbs.items[0].attributes_json).storage_gib + 1
}
output "managed" {
  value = jsondecode(data.mycloud_resources.dbs.items[0].attributes_json).manage_admin_password == true
}
`
	const scopedLists = `
data "mycloud_resources" "vpcs" {
  type = "vpc"
}
data "mycloud_resources" "web" {
  type = "vpc"
  tags = { team = "web" }
}
`
	items := func(name string, ids ...string) resource.TestCheckFunc {
		checks := []resource.TestCheckFunc{resource.TestCheckResourceAttr(name, "items.#", fmt.Sprint(len(ids)))}
		for i, id := range ids {
			checks = append(checks, resource.TestCheckResourceAttr(name, fmt.Sprintf("items.%d.id", i), id))
		}
		return resource.ComposeAggregateTestCheckFunc(checks...)
	}
	resource.Test(t, testCase(
		// Refused at plan time. (First: the destroy after the last step
		// runs its configuration.)
		resource.TestStep{
			Config:      cloud.ProviderBlock() + "data \"mycloud_resources\" \"x\" {\n  type = \"vpcs\"\n}\n",
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`type "vpcs" is not a mycloud resource type: use one of vpc,\s+subnet,\s+mysql,\s+redis,\s+bucket`),
		},
		resource.TestStep{
			Config:      cloud.ProviderBlock() + "data \"mycloud_resources\" \"x\" {\n  type        = \"vpc\"\n  name_prefix = \"Shop\"\n}\n",
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`Invalid name_prefix[\s\S]*lower-case`),
		},
		resource.TestStep{
			Config: cloud.ProviderBlock() + lists,
			// Terraform itself reads attributes_json with typed values.
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownOutputValue("storage_plus_one", knownvalue.Int64Exact(41)),
				statecheck.ExpectKnownOutputValue("managed", knownvalue.Bool(true)),
			},
			Check: resource.ComposeAggregateTestCheckFunc(
				// Sorted by id, not by name or creation.
				items("data.mycloud_resources.web", "vpc-a0000002", "vpc-b0000001", "vpc-c0000003"),
				resource.TestCheckResourceAttr("data.mycloud_resources.web", "items.0.name", "shop-web-b"),
				resource.TestCheckResourceAttr("data.mycloud_resources.web", "items.2.tags.project", "other"),
				items("data.mycloud_resources.none"),
				items("data.mycloud_resources.dbs", "mysql-a0000001"),
				func(s *terraform.State) error {
					raw := s.RootModule().Resources["data.mycloud_resources.dbs"].Primary.Attributes["items.0.attributes_json"]
					var attrs map[string]any
					if err := json.Unmarshal([]byte(raw), &attrs); err != nil {
						return fmt.Errorf("attributes_json %q is not a JSON object: %w", raw, err)
					}
					want := map[string]any{"storage_gib": float64(40), "port": float64(3306), "manage_admin_password": true,
						"name": "orders", "subnet_id": "subnet-a0000001", "status": "available", "tags": map[string]any{"project": "shop"}}
					for k, v := range want {
						if fmt.Sprintf("%T %v", attrs[k], attrs[k]) != fmt.Sprintf("%T %v", v, v) {
							return fmt.Errorf("attributes_json %s = %T %v, want %T %v", k, attrs[k], attrs[k], v, v)
						}
					}
					if _, ok := attrs["admin_password_secret_id"].(string); !ok {
						return fmt.Errorf("attributes_json has no admin_password_secret_id: %s", raw)
					}
					return nil
				},
			),
		},
		resource.TestStep{
			Config: scopedProvider + scopedLists,
			Check: resource.ComposeAggregateTestCheckFunc(
				// shop's VPCs and the shared one; never other's vpc-c0000003.
				items("data.mycloud_resources.vpcs", "vpc-a0000002", "vpc-b0000001", "vpc-d0000004", "vpc-e0000005"),
				items("data.mycloud_resources.web", "vpc-a0000002", "vpc-b0000001", "vpc-e0000005"),
			),
		},
	))
}
