package controller

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// discoveredPlan is the discovery module's plan: what each type's data
// source found.
func discoveredPlan(outputs map[string]any) planReply {
	p := &tfjson.Plan{PlannedValues: &tfjson.StateValues{Outputs: map[string]*tfjson.StateOutput{}}}
	for name, v := range outputs {
		p.PlannedValues.Outputs[name] = &tfjson.StateOutput{Value: v}
	}
	return planReply{plan: p, changes: true}
}

// legacyProject is a VPC with a subnet, a database in it and a bucket.
var legacyProject = map[string]any{
	"vpc":    []any{map[string]any{"id": "vpc-1", "name": "shop", "attributes_json": `{"cidr":"10.1.0.0/16"}`}},
	"subnet": []any{map[string]any{"id": "subnet-1", "name": "shop-app", "attributes_json": `{"vpc_id":"vpc-1","cidr":"10.1.1.0/24","zone":"zone-a"}`}},
	"mysql":  []any{map[string]any{"id": "mysql-1", "name": "orders", "attributes_json": `{"subnet_id":"subnet-1","storage_gib":20,"manage_admin_password":true}`}},
	"redis":  []any{},
	"bucket": []any{map[string]any{"id": "bucket-1", "name": "shop-assets", "attributes_json": `{"acl":"private","versioning":false}`}},
}

func noneFound() map[string]any {
	return map[string]any{"vpc": []any{}, "subnet": []any{}, "mysql": []any{}, "redis": []any{}, "bucket": []any{}}
}

// owning is a Configuration of application app in namespace ns that owns
// id.
func owning(ns, app, component, id string) *tfv1beta2.Configuration {
	return &tfv1beta2.Configuration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: component, Labels: map[string]string{"app.oam.dev/name": app, "app.oam.dev/component": component}},
		Status:     tfv1beta2.ConfigurationStatus{Apply: tfv1beta2.ConfigurationApplyStatus{Outputs: map[string]tfv1beta2.Property{"id": {Value: id}}}},
	}
}

func TestFakeDiscovery(t *testing.T) {
	const name = "InfraDiscovery team/shop"
	sel := "tag project=shop, types vpc, subnet, mysql, redis, bucket"
	mine := &v1alpha1.ProviderRef{Namespace: fakeNS, Name: "mycloud"}
	cases := map[string]struct {
		spec    v1alpha1.InfraDiscoverySpec
		objs    []client.Object
		ws      fakeWorkspace
		openErr error
		want    observed
		// found and managed are the status counts; app whether the
		// Application was written.
		found, managed int
		app            bool
		// inYAML is more the Application must hold.
		inYAML []string
	}{
		"discovers": {ws: fakeWorkspace{plans: []planReply{discoveredPlan(legacyProject)}}, found: 4, app: true, want: observed{
			Calls: []string{"plan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonDiscovered, "found 4 resources (1 vpc, 1 subnet, 1 mysql, 1 bucket) matching "+sel+
				", 0 of them already managed by application shop; review the Application that adopts them: kubectl -n team get configmap shop-application -o jsonpath='{.data.application\\.yaml}'"),
			Events: []string{"Normal Discovered found 4 resources; Application shop in ConfigMap shop-application"},
		}},
		"finds nothing": {ws: fakeWorkspace{plans: []planReply{discoveredPlan(noneFound())}}, want: observed{
			Calls: []string{"plan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonNothingFound, name+" found nothing matching "+sel+
				": no Application written. Check the selector against the cloud's tags and names, and the Provider's credentials (a project-scoped key sees only its project)"),
		}},
		"what the application manages already counts as managed": {
			objs: []client.Object{owning(fakeNS, "shop", "shop", "vpc-1")},
			ws:   fakeWorkspace{plans: []planReply{discoveredPlan(legacyProject)}}, found: 4, managed: 1, app: true, want: observed{
				Calls: []string{"plan"}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDiscovered, "found 4 resources (1 vpc, 1 subnet, 1 mysql, 1 bucket) matching "+sel+
					", 1 of them already managed by application shop; review the Application that adopts them: kubectl -n team get configmap shop-application -o jsonpath='{.data.application\\.yaml}'"),
				Events: []string{"Normal Discovered found 4 resources; Application shop in ConfigMap shop-application"},
			}},
		"a name another namespace's Configuration has is not taken": {
			objs: []client.Object{owning("payments", "billing", "shop-assets", "bucket-other")},
			ws:   fakeWorkspace{plans: []planReply{discoveredPlan(legacyProject)}}, found: 4, app: true, inYAML: []string{"- name: shop-assets-bucket\n"}, want: observed{
				Calls: []string{"plan"}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDiscovered, "found 4 resources (1 vpc, 1 subnet, 1 mysql, 1 bucket) matching "+sel+
					", 0 of them already managed by application shop; review the Application that adopts them: kubectl -n team get configmap shop-application -o jsonpath='{.data.application\\.yaml}'"),
				Events: []string{"Normal Discovered found 4 resources; Application shop in ConfigMap shop-application"},
			}},
		"another application's resources are refused, naming it": {
			objs: []client.Object{owning("payments", "billing", "cache-net", "subnet-1")},
			ws:   fakeWorkspace{plans: []planReply{discoveredPlan(legacyProject)}}, found: 4, want: observed{
				Calls: []string{"plan"}, Done: true,
				Conditions: stalledWith(v1alpha1.ReasonManagedElsewhere, name+" refused: the selector ("+sel+
					") matches 1 resource(s) another application already manages: subnet subnet-1 (shop-app) is managed by payments/billing (component cache-net). Two owners would each change and destroy them; narrow the selector (tags, namePrefix, types), or use them without owning them with reference components (mycloud-*-ref)"),
			}},
		"a bad selector is refused before anything runs": {
			spec: v1alpha1.InfraDiscoverySpec{Selector: v1alpha1.DiscoverySelector{Types: []string{"ec2"}}}, want: observed{
				Done:       true,
				Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, name+": spec.selector must set tags or namePrefix (or both): a discovery does not list the whole cloud, such as tags: {project: shop}"),
			}},
		"a bad application name": {
			spec: v1alpha1.InfraDiscoverySpec{Selector: v1alpha1.DiscoverySelector{NamePrefix: "shop"}, Application: "Shop_Legacy"}, want: observed{
				Done:       true,
				Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, name+`: spec.application "Shop_Legacy" is not an Application name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`),
			}},
		"another tenant's Provider is refused": {
			spec: v1alpha1.InfraDiscoverySpec{Selector: v1alpha1.DiscoverySelector{NamePrefix: "shop"}, ProviderRef: &v1alpha1.ProviderRef{Namespace: "payments", Name: "mycloud"}}, want: observed{
				Done:       true,
				Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, "spec.providerRef names Provider payments/mycloud: use a Provider of namespace team or a shared one (namespaces default), not another tenant's"),
			}},
		"a missing Provider": {
			spec: v1alpha1.InfraDiscoverySpec{Selector: v1alpha1.DiscoverySelector{NamePrefix: "shop"}, ProviderRef: &v1alpha1.ProviderRef{Namespace: fakeNS, Name: "nope"}}, want: observed{
				Result:     after(4 * 1e9),
				Conditions: stalledWith(v1alpha1.ReasonProviderNotFound, "spec.providerRef names Provider team/nope, which does not exist: enable the provider's addon or fix spec.providerRef"),
			}},
		"the cloud refuses the credentials": {ws: fakeWorkspace{plans: []planReply{{err: tfErr(terraform.ReasonAuth, "401 Unauthorized")}}}, want: observed{
			Calls: []string{"plan"}, Result: after(4 * 1e9),
			Conditions: stalledWith(v1alpha1.ReasonAuthFailed, name+": listing the cloud failed: the cloud refused the credentials (401 Unauthorized); fix the Provider's credentials Secret; the full Terraform output is in ConfigMap infradiscovery-shop-output"),
		}},
	}
	for desc, tc := range cases {
		t.Run(desc, func(t *testing.T) {
			spec := tc.spec
			if spec.Selector.Tags == nil && spec.Selector.NamePrefix == "" && spec.Selector.Types == nil {
				spec.Selector.Tags = map[string]string{"project": "shop"}
			}
			if spec.ProviderRef == nil {
				spec.ProviderRef = mine
			}
			obj := &v1alpha1.InfraDiscovery{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "shop", Generation: 1}, Spec: spec}
			e := newFakeEnv(t, append(tc.objs, obj)...)
			ws := tc.ws
			ws.t, ws.dir = t, t.TempDir()
			e.ws = &ws
			e.opener.ws = &ws
			got := e.reconcile(&DiscoveryReconciler{Runtime: e.rt}, obj)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if obj.Status.Found != tc.found || obj.Status.Managed != tc.managed {
				t.Errorf("found %d managed %d, want %d and %d", obj.Status.Found, obj.Status.Managed, tc.found, tc.managed)
			}
			var cm corev1.ConfigMap
			err := e.c.Get(context.Background(), types.NamespacedName{Namespace: fakeNS, Name: "shop-application"}, &cm)
			if tc.app != (err == nil) || tc.app != (obj.Status.ApplicationRef != nil) {
				t.Fatalf("Application written: %v (ref %v), want %v", err == nil, obj.Status.ApplicationRef, tc.app)
			}
			if !tc.app {
				return
			}
			yaml := cm.Data["application.yaml"]
			for _, want := range append([]string{"name: shop\n  namespace: team", "type: infra-bulk-import", "from: shop-id", "parameterKey: vpc_id"}, tc.inYAML...) {
				if !strings.Contains(yaml, want) {
					t.Errorf("the Application lacks %q:\n%s", want, yaml)
				}
			}
			if ref := cm.OwnerReferences; len(ref) != 1 || ref[0].Kind != "InfraDiscovery" {
				t.Errorf("owner references %v", ref)
			}
			if k := e.opener.target.Key; k != "_discovery/team/shop" {
				t.Errorf("workspace key %q", k)
			}
			if e.opener.target.Env["MYCLOUD_ACCESS_KEY"] != "AKFAKE" || !strings.Contains(e.opener.target.HCL, `data "mycloud_resources" "vpc"`) {
				t.Errorf("target %+v", e.opener.target)
			}
			if !slices.Contains(e.opener.target.Secrets, "fake-secret-key") {
				t.Errorf("the secret key is not redacted: %v", e.opener.target.Secrets)
			}
		})
	}
}
