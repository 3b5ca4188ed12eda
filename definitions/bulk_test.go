package definitions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	cuexruntime "github.com/kubevela/pkg/cue/cuex/runtime"
	"github.com/kubevela/pkg/util/singleton"
	wfv1alpha1 "github.com/kubevela/workflow/api/v1alpha1"
	wfcontext "github.com/kubevela/workflow/pkg/context"
	providertypes "github.com/kubevela/workflow/pkg/providers/types"
)

// projectComponents are the components of an application whose subnet
// takes its VPC's id by input, plus a component that is no Terraform one.
func projectComponents() anyMap {
	return anyMap{
		"net": anyMap{"name": "net", "type": "mycloud-vpc", "properties": anyMap{"name": "shop", "cidr": "10.1.0.0/16"},
			"outputs": []any{anyMap{"name": "net-id", "valueFrom": "output.status.apply.outputs.id.value"}}},
		"app-sub": anyMap{"name": "app-sub", "type": "mycloud-subnet", "dependsOn": []any{"net"},
			"inputs":     []any{anyMap{"from": "net-id", "parameterKey": "vpc_id"}},
			"properties": anyMap{"name": "shop-app", "cidr": "10.1.1.0/24"}},
		"web": anyMap{"name": "web", "type": "webservice", "properties": anyMap{"image": "nginx"}},
	}
}

// projectSpec is the Application's spec, as kube.#Read returns it.
func projectSpec() map[string]any {
	var list []any
	for _, name := range []string{"net", "app-sub", "web"} {
		list = append(list, projectComponents()[name])
	}
	return map[string]any{"components": list}
}

// project stands for vela-core's oam provider for the application of
// projectComponents: its load leaves out the components' inputs and
// outputs, as vela-core's does; a Terraform component renders to a
// Configuration named after it whose variables are its properties.
func project() map[string]cuexruntime.ProviderFn {
	components := projectComponents()
	for _, c := range components {
		delete(c.(anyMap), "inputs")
		delete(c.(anyMap), "outputs")
	}
	return map[string]cuexruntime.ProviderFn{
		"load": providertypes.GenericProviderFn[anyMap, providertypes.Returns[anyMap]](func(context.Context, *providertypes.Params[anyMap]) (*providertypes.Returns[anyMap], error) {
			return &providertypes.Returns[anyMap]{Returns: anyMap{"value": runtime.DeepCopyJSON(components)}}, nil
		}),
		"component-render": providertypes.GenericProviderFn[anyMap, providertypes.Returns[anyMap]](func(_ context.Context, p *providertypes.Params[anyMap]) (*providertypes.Returns[anyMap], error) {
			comp, _ := p.Params["value"].(anyMap)
			if comp["type"] == "webservice" {
				return &providertypes.Returns[anyMap]{Returns: anyMap{"output": anyMap{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": anyMap{"name": comp["name"]}}}}, nil
			}
			return &providertypes.Returns[anyMap]{Returns: anyMap{"output": anyMap{
				"apiVersion": "terraform.core.oam.dev/v1beta2", "kind": "Configuration", "metadata": anyMap{"name": comp["name"]},
				"spec": anyMap{"hcl": "# module", "variable": comp["properties"]},
			}}}, nil
		}),
	}
}

// imported is the status of an InfraImport that adopted (imported) or
// found already there (skipped) its resource, and names its variables
// Secret.
func imported(name, key string) map[string]any {
	st := objectStatus(1, ready("Succeeded", "adopted"))
	st[key] = []any{"x"}
	st["variablesSecret"] = "vela-system/tfvars-infraimport.shop-ns." + name
	return st
}

// TestBulkImport runs infra-bulk-import through the workflow engine: one
// InfraImport per component, a subnet's VPC id from the VPC's import, the
// summary when all are done, the refusals named, bad parameters named.
func TestBulkImport(t *testing.T) {
	wfcontext.EnableInMemoryContext = true
	singleton.KubeClient.Set(fake.NewClientBuilder().Build())
	both := []any{
		anyMap{"component": "net", "address": "mycloud_vpc.this", "id": "vpc-1"},
		anyMap{"component": "app-sub", "address": "mycloud_subnet.this", "id": "subnet-1"},
	}
	run := func(t *testing.T, imports []any, statusOf map[string]map[string]any) stepRun {
		t.Helper()
		c := &cluster{generation: 1, statusOf: statusOf, oam: project(), specOf: map[string]map[string]any{"Application": projectSpec()}}
		return runStep(t, c, wfv1alpha1.WorkflowStep{WorkflowStepBase: wfv1alpha1.WorkflowStepBase{
			Name: "adopt", Type: "infra-bulk-import", Properties: mustRaw(t, map[string]any{"imports": imports}),
		}}, false)
	}
	byKind := func(objs []*unstructured.Unstructured, kind string) map[string]*unstructured.Unstructured {
		out := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			if o.GetKind() == kind {
				out[o.GetName()] = o
			}
		}
		return out
	}

	t.Run("applies one InfraImport per component and waits", func(t *testing.T) {
		r := run(t, both, nil)
		if r.status.Phase != wfv1alpha1.WorkflowStepPhaseRunning || !strings.HasPrefix(r.status.Message, "importing 2 components: 0 adopted, 0 already managed, 0 refused, 2 running") {
			t.Errorf("phase %s, message %q", r.status.Phase, r.status.Message)
		}
		imports := byKind(r.applied, "InfraImport")
		if len(imports) != 2 {
			t.Fatalf("applied %d InfraImports, want 2: %v", len(imports), r.applied)
		}
		sub := imports["shop-adopt-app-sub"]
		if sub == nil {
			t.Fatalf("no InfraImport shop-adopt-app-sub: %v", imports)
		}
		spec := sub.Object["spec"].(map[string]any)
		target := spec["target"].(map[string]any)
		if target["configurationName"] != "app-sub" || target["variablesFrom"] != "Secret" || target["spec"].(map[string]any)["variable"] != nil {
			t.Errorf("target %v", target)
		}
		if res := fmt.Sprint(spec["resources"]); res != "[map[address:mycloud_subnet.this id:subnet-1]]" {
			t.Errorf("resources %s", res)
		}
		if sub.GetLabels()["app.oam.dev/component"] != "app-sub" {
			t.Errorf("labels %v", sub.GetLabels())
		}
	})

	t.Run("the subnet's variables take the VPC's id", func(t *testing.T) {
		r := run(t, both, map[string]map[string]any{
			"shop-adopt-net":     objectStatus(1, pending("AwaitingVariables", "waits")),
			"shop-adopt-app-sub": with(objectStatus(1, pending("AwaitingVariables", "waits")), "variablesSecret", "vela-system/tfvars-infraimport.shop-ns.shop-adopt-app-sub"),
		})
		secrets := byKind(r.applied, "Secret")
		s := secrets["tfvars-infraimport.shop-ns.shop-adopt-app-sub"]
		if s == nil {
			t.Fatalf("no variables Secret written: %v", r.applied)
		}
		var vars map[string]any
		if err := json.Unmarshal([]byte(s.Object["stringData"].(map[string]any)["variables"].(string)), &vars); err != nil {
			t.Fatal(err)
		}
		if vars["vpc_id"] != "vpc-1" || vars["name"] != "shop-app" {
			t.Errorf("variables %v, want vpc_id vpc-1 from the VPC's import", vars)
		}
	})

	t.Run("sums up when every import is done", func(t *testing.T) {
		r := run(t, both, map[string]map[string]any{
			"shop-adopt-net":     imported("shop-adopt-net", "imported"),
			"shop-adopt-app-sub": imported("shop-adopt-app-sub", "skipped"),
		})
		if r.status.Phase != wfv1alpha1.WorkflowStepPhaseSucceeded || r.status.Message != "1 adopted, 1 already managed, 0 refused" {
			t.Errorf("phase %s, message %q", r.status.Phase, r.status.Message)
		}
	})

	t.Run("fails naming every refusal once all are done", func(t *testing.T) {
		refusal := "InfraImport shop-ns/shop-adopt-app-sub refused: after importing, Terraform would replace mycloud_subnet.this"
		statuses := map[string]map[string]any{
			"shop-adopt-net":     objectStatus(1, pending("Progressing", "running Terraform")),
			"shop-adopt-app-sub": objectStatus(1, pending("ImportWouldReplace", refusal), stalled("ImportWouldReplace", refusal)),
		}
		if r := run(t, both, statuses); r.status.Phase != wfv1alpha1.WorkflowStepPhaseRunning {
			t.Errorf("with one still running: phase %s, message %q", r.status.Phase, r.status.Message)
		}
		statuses["shop-adopt-net"] = imported("shop-adopt-net", "imported")
		r := run(t, both, statuses)
		want := "1 adopted, 0 already managed, 1 refused; nothing is applied: app-sub: " + refusal
		if r.status.Phase != wfv1alpha1.WorkflowStepPhaseFailed || r.status.Message != want {
			t.Errorf("phase %s, message %q, want %q", r.status.Phase, r.status.Message, want)
		}
	})

	for desc, tc := range map[string]struct {
		imports []any
		want    string
	}{
		"no imports":        {[]any{}, "parameter imports must list at least one {component, address, id}"},
		"unknown component": {[]any{anyMap{"component": "nope", "address": "mycloud_vpc.this", "id": "vpc-1"}}, `imports[0].component "nope" is not a component of application shop: name one of`},
		"listed twice":      {append(both, both[0]), `imports[2].component "net" is listed twice`},
		"not Terraform":     {[]any{anyMap{"component": "web", "address": "mycloud_vpc.this", "id": "vpc-1"}}, `imports[0].component "web" is of type webservice, which renders a Deployment, not a terraform-controller Configuration`},
		"bad id":            {[]any{anyMap{"component": "net", "address": "mycloud_vpc.this", "id": "vpc 1"}}, "id"},
	} {
		t.Run(desc, func(t *testing.T) {
			r := run(t, tc.imports, nil)
			if r.status.Phase != wfv1alpha1.WorkflowStepPhaseFailed || !strings.Contains(r.status.Message, tc.want) {
				t.Errorf("phase %s, message %q, want a failure containing %q", r.status.Phase, r.status.Message, tc.want)
			}
			if n := len(byKind(r.applied, "InfraImport")); n != 0 && desc != "listed twice" {
				t.Errorf("applied %d InfraImports for bad parameters", n)
			}
		})
	}
}

func mustRaw(t *testing.T, v any) *runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.RawExtension{Raw: b}
}
