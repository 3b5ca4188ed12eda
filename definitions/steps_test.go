package definitions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubevela/pkg/cue/cuex"
	cuexruntime "github.com/kubevela/pkg/cue/cuex/runtime"
	"github.com/kubevela/pkg/util/singleton"
	wfv1alpha1 "github.com/kubevela/workflow/api/v1alpha1"
	wfcontext "github.com/kubevela/workflow/pkg/context"
	"github.com/kubevela/workflow/pkg/cue/process"
	"github.com/kubevela/workflow/pkg/providers/builtin"
	"github.com/kubevela/workflow/pkg/providers/kube"
	providertypes "github.com/kubevela/workflow/pkg/providers/types"
	"github.com/kubevela/workflow/pkg/tasks/custom"
	wftypes "github.com/kubevela/workflow/pkg/types"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
	infrav1alpha1 "github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// stepsDir holds the workflow step definitions, as the addon vela-infra
// installs them.
const stepsDir = "addons/vela-infra/definitions"

var steps = []string{"infra-import", "infra-drift", "infra-plan", "infra-approve", "infra-bulk-import"}

// stepTemplate is a step definition's template as vela def apply stores it
// in the WorkflowStepDefinition.
func stepTemplate(t *testing.T, name string) string {
	t.Helper()
	return definitionTemplate(t, stepsDir+"/"+name+".cue")
}

// definitionTemplate is the template of the definition in the file rel as
// vela def apply stores it (spec.schematic.cue.template): the file's
// imports and the fields of its template.
func definitionTemplate(t *testing.T, rel string) string {
	t.Helper()
	src, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(rel, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := &ast.File{}
	for _, d := range f.Decls {
		if imp, ok := d.(*ast.ImportDecl); ok {
			out.Decls = append(out.Decls, imp)
		}
	}
	tmpl := field(f.Decls, "template")
	if tmpl == nil {
		t.Fatalf("%s has no template", rel)
	}
	st, ok := tmpl.Value.(*ast.StructLit)
	if !ok {
		t.Fatalf("%s: template is not a struct", rel)
	}
	out.Decls = append(out.Decls, st.Elts...)
	b, err := format.Node(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The Configuration the component "db" of the application renders to.
var renderedConfiguration = map[string]any{
	"apiVersion": "terraform.core.oam.dev/v1beta2",
	"kind":       "Configuration",
	"metadata":   map[string]any{"name": "db"},
	"spec":       map[string]any{"hcl": "# module", "variable": map[string]any{"name": "orders"}},
}

// cluster stands for the API server behind kube.#Apply and kube.#Read: it
// answers with the step-run object as the step-runner left it.
type cluster struct {
	// generation and status of the step-run object; status nil: none yet.
	generation int64
	status     map[string]any
	// spec of the object as it is stored (kube.#Read returns it).
	spec map[string]any
	// readErr: kube.#Read finds no object and returns this error.
	readErr string
	// statusOf, when set, is the status of each object by name, in place
	// of status (a step over several objects).
	statusOf map[string]map[string]any
	// specOf, when set, is the spec kube.#Read returns for an object of
	// each kind, in place of spec.
	specOf map[string]map[string]any
	// appLabels, when set, are the Application's labels as vela-core passes
	// them (context.appLabels; a nil map when it has none, which vela-core
	// passes as null).
	appLabels   map[string]string
	hasAppLabel bool
	// oam, when set, stands for vela-core's oam provider in place of
	// application().
	oam map[string]cuexruntime.ProviderFn

	mu      sync.Mutex
	applied []*unstructured.Unstructured
}

func (c *cluster) answer(obj *unstructured.Unstructured) *kube.ResourceReturns {
	obj = obj.DeepCopy()
	obj.SetGeneration(c.generation)
	if st, ok := c.statusOf[obj.GetName()]; ok {
		obj.Object["status"] = runtime.DeepCopyJSON(st)
	} else if c.status != nil {
		obj.Object["status"] = runtime.DeepCopyJSON(c.status)
	}
	return &kube.ResourceReturns{Returns: kube.ResourceReturnVars{Resource: obj}}
}

func (c *cluster) providers() map[string]cuexruntime.ProviderFn {
	return map[string]cuexruntime.ProviderFn{
		"apply": providertypes.GenericProviderFn[kube.ResourceVars, kube.ResourceReturns](func(_ context.Context, p *kube.ResourceParams) (*kube.ResourceReturns, error) {
			c.mu.Lock()
			c.applied = append(c.applied, p.Params.Resource.DeepCopy())
			c.mu.Unlock()
			return c.answer(p.Params.Resource), nil
		}),
		"read": providertypes.GenericProviderFn[kube.ResourceVars, kube.ResourceReturns](func(_ context.Context, p *kube.ResourceParams) (*kube.ResourceReturns, error) {
			if c.readErr != "" {
				return &kube.ResourceReturns{Returns: kube.ResourceReturnVars{Resource: p.Params.Resource, Error: c.readErr}}, nil
			}
			obj := p.Params.Resource.DeepCopy()
			if spec, ok := c.specOf[obj.GetKind()]; ok {
				obj.Object["spec"] = runtime.DeepCopyJSON(spec)
			} else {
				obj.Object["spec"] = runtime.DeepCopyJSON(c.spec)
			}
			return c.answer(obj), nil
		}),
	}
}

type anyMap = map[string]any

// application stands for vela-core's oam provider: the application has one
// component, "db", which renders to renderedConfiguration.
func application() map[string]cuexruntime.ProviderFn {
	return map[string]cuexruntime.ProviderFn{
		"load": providertypes.GenericProviderFn[anyMap, providertypes.Returns[anyMap]](func(context.Context, *providertypes.Params[anyMap]) (*providertypes.Returns[anyMap], error) {
			return &providertypes.Returns[anyMap]{Returns: anyMap{"value": anyMap{"db": anyMap{"name": "db", "type": "mycloud-mysql", "properties": anyMap{"name": "orders"}}}}}, nil
		}),
		"component-render": providertypes.GenericProviderFn[anyMap, providertypes.Returns[anyMap]](func(_ context.Context, p *providertypes.Params[anyMap]) (*providertypes.Returns[anyMap], error) {
			if comp, _ := p.Params["value"].(anyMap); comp["name"] != "db" {
				return nil, fmt.Errorf("render: want component db, got %v", p.Params["value"])
			}
			return &providertypes.Returns[anyMap]{Returns: anyMap{"output": runtime.DeepCopyJSON(renderedConfiguration)}}, nil
		}),
	}
}

func (c *cluster) oamProviders() map[string]cuexruntime.ProviderFn {
	if c.oam != nil {
		return c.oam
	}
	return application()
}

var oamTemplate = sync.OnceValues(func() (string, error) {
	dir, err := testenv.ModuleDir("github.com/oam-dev/kubevela")
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "pkg", "workflow", "providers", "oam", "oam.cue"))
	return string(b), err
})

func must(p cuexruntime.Package, err error) cuexruntime.Package {
	if err != nil {
		panic(err)
	}
	return p
}

// stepRun is what one run of a step did: its status as `vela status` shows
// it, its outputs and what it applied.
type stepRun struct {
	status  wfv1alpha1.StepStatus
	outputs map[string]any
	applied []*unstructured.Unstructured
}

// runStep runs one step of application shop (namespace shop-ns) through
// KubeVela's workflow engine (kubevela/workflow's task runner with its own
// builtin provider, the one vela-core runs), with the cluster and the
// application's components standing in for kube and oam. resumed: the
// step was suspended and `vela workflow resume` resumed it.
func runStep(t *testing.T, c *cluster, step wfv1alpha1.WorkflowStep, resumed bool) stepRun {
	t.Helper()
	oam, err := oamTemplate()
	if err != nil {
		t.Fatal(err)
	}
	compiler := cuex.NewCompilerWithInternalPackages(
		must(cuexruntime.NewInternalPackage("builtin", builtin.GetTemplate(), builtin.GetProviders())),
		must(cuexruntime.NewInternalPackage("kube", kube.GetTemplate(), c.providers())),
		must(cuexruntime.NewInternalPackage("oam", oam, c.oamProviders())),
	)
	templates := map[string]string{}
	for _, s := range steps {
		templates[s] = stepTemplate(t, s)
	}
	load := func(_ context.Context, name string) (string, error) {
		tmpl, ok := templates[name]
		if !ok {
			return "", fmt.Errorf("no step definition %s", name)
		}
		return tmpl, nil
	}
	pctx := process.NewContext(process.ContextData{Name: "shop", Namespace: "shop-ns"})
	if c.hasAppLabel {
		pctx.PushData("appLabels", c.appLabels)
	}
	// Log level 4: the engine logs each run at klog verbosity 4, which tests
	// leave off.
	gen, err := custom.NewTaskLoader(load, 4, pctx, compiler).GetTaskGenerator(context.Background(), step.Type)
	if err != nil {
		t.Fatal(err)
	}
	const session = "session-1"
	runner, err := gen(step, &wftypes.TaskGeneratorOptions{ID: session})
	if err != nil {
		t.Fatal(err)
	}
	wfCtx, err := wfcontext.NewContext(context.Background(), "shop-ns", "shop-"+strings.ReplaceAll(t.Name(), "/", "-"), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := &wftypes.TaskRunOptions{}
	if resumed {
		// What the first run's suspend left, and what the resume changed.
		wfCtx.SetMutableValue(time.Now().Format(time.RFC3339), session, "hold", builtin.SuspendTimeStamp)
		opts.StepStatus = map[string]wfv1alpha1.StepStatus{step.Name: {Name: step.Name, Type: step.Type, Phase: wfv1alpha1.WorkflowStepPhaseRunning}}
	}
	status, _, err := runner.Run(wfCtx, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	run := stepRun{status: status, applied: c.applied, outputs: map[string]any{}}
	for _, o := range step.Outputs {
		if v, err := wfCtx.GetVar(o.Name); err == nil {
			var x any
			if b, err := v.MarshalJSON(); err == nil && json.Unmarshal(b, &x) == nil {
				run.outputs[o.Name] = x
			}
		}
	}
	return run
}

// objectStatus is a step-run object's status as the step-runner writes it:
// the generation it answers and its conditions (type, status, reason,
// message).
func objectStatus(observed int64, conds ...[4]string) map[string]any {
	var cs []any
	for _, c := range conds {
		cs = append(cs, map[string]any{"type": c[0], "status": c[1], "reason": c[2], "message": c[3],
			"lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": observed})
	}
	return map[string]any{"observedGeneration": observed, "conditions": cs}
}

func with(status map[string]any, key string, value any) map[string]any {
	status[key] = value
	return status
}

func ready(reason, message string) [4]string   { return [4]string{"Ready", "True", reason, message} }
func pending(reason, message string) [4]string { return [4]string{"Ready", "False", reason, message} }
func stalled(reason, message string) [4]string { return [4]string{"Stalled", "True", reason, message} }

// TestStepBranches runs every branch of every infra-* step through the
// workflow engine: what the step does (its phase and message, as `vela
// status` shows them) for each state of its step-run object.
func TestStepBranches(t *testing.T) {
	t.Parallel()
	// The workflow context lives in memory, not in a ConfigMap; the engine
	// still asks for a client first.
	wfcontext.EnableInMemoryContext = true
	singleton.KubeClient.Set(fake.NewClientBuilder().Build())
	const (
		succeeded  = wfv1alpha1.WorkflowStepPhaseSucceeded
		failed     = wfv1alpha1.WorkflowStepPhaseFailed
		running    = wfv1alpha1.WorkflowStepPhaseRunning
		suspending = wfv1alpha1.WorkflowStepPhaseSuspending
	)
	importProps := map[string]any{"component": "db", "resources": []any{map[string]any{"address": "mycloud_mysql.this", "id": "mysql-1a2b"}}}
	driftProps := func(onDrift string) map[string]any {
		p := map[string]any{"component": "db"}
		if onDrift != "" {
			p["onDrift"] = onDrift
		}
		return p
	}
	db := map[string]any{"component": "db"}
	plan := map[string]any{"id": "p-42", "add": int64(1), "change": int64(2), "destroy": int64(0)}
	drift := map[string]any{"add": int64(0), "change": int64(1), "destroy": int64(0)}
	const diff = "1 to add, 2 to change, 0 to destroy:\n  ~ mycloud_mysql.this"
	const unknownComponent = `component "x" is not a component of application shop: name one of db`
	const noComponent = `parameter component is missing: name the mycloud-* component of application shop to work on, one of db`
	// approvedP42: the step applied InfraApproval shop-db approving plan
	// p-42 of its request.
	approvedP42 := func(t *testing.T, objs []*unstructured.Unstructured) {
		if len(objs) != 1 || objs[0].GetName() != "shop-db" {
			t.Fatalf("applied %v, want the InfraApproval shop-db", objs)
		}
		want := map[string]any{"planID": "p-42", "request": "plan-session", "by": "shop/approve (step session session-1)"}
		if diff := cmp.Diff(want, objs[0].Object["spec"].(map[string]any)["approval"]); diff != "" {
			t.Errorf("approval (-want +got):\n%s", diff)
		}
	}
	nothingApplied := func(t *testing.T, objs []*unstructured.Unstructured) {
		if len(objs) != 0 {
			t.Errorf("applied %v", objs)
		}
	}
	cases := map[string]struct {
		step       string
		properties map[string]any
		generation int64 // default 1
		status     map[string]any
		spec       map[string]any
		readErr    string
		resumed    bool
		outputs    []string

		wantPhase   wfv1alpha1.WorkflowStepPhase
		wantReason  string
		wantMessage string
		wantOutputs map[string]any
		// wantApplied checks the objects the step applied, in order.
		wantApplied func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		// Bad parameters: the step fails naming the parameter, and applies
		// nothing.
		"import: no resources": {
			step: "infra-import", properties: map[string]any{"component": "db", "resources": []any{}},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: "resources must list at least one {address, id}, such as {address: mycloud_vpc.this, id: vpc-1a2b3c4d}",
			wantApplied: nothingApplied,
		},
		"import: resources missing": {
			step: "infra-import", properties: db,
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: "resources must list at least one {address, id}, such as {address: mycloud_vpc.this, id: vpc-1a2b3c4d}",
			wantApplied: nothingApplied,
		},
		// No component: the step names the parameter (CUE alone would fail
		// with "nodeContext out of sync").
		"drift: no component": {
			step: "infra-drift", properties: map[string]any{},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: noComponent, wantApplied: nothingApplied,
		},
		"import: no component": {
			step: "infra-import", properties: map[string]any{"resources": importProps["resources"]},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: noComponent, wantApplied: nothingApplied,
		},
		"plan: no component": {
			step: "infra-plan", properties: map[string]any{},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: noComponent, wantApplied: nothingApplied,
		},
		"approve: no component": {
			step: "infra-approve", properties: map[string]any{},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: noComponent, wantApplied: nothingApplied,
		},
		"drift: onDrift not one of its values": {
			step: "infra-drift", properties: driftProps("explode"),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: `onDrift must be one of "report", "fail", "suspend"`,
			wantApplied: nothingApplied,
		},
		"import: unknown component": {
			step: "infra-import", properties: map[string]any{"component": "x", "resources": importProps["resources"]},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: unknownComponent,
			wantApplied: nothingApplied,
		},
		"drift: unknown component": {
			step: "infra-drift", properties: map[string]any{"component": "x"},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: unknownComponent,
			wantApplied: nothingApplied,
		},
		"plan: unknown component": {
			step: "infra-plan", properties: map[string]any{"component": "x"},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: unknownComponent,
			wantApplied: nothingApplied,
		},
		"approve: unknown component": {
			step: "infra-approve", properties: map[string]any{"component": "x"},
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: unknownComponent,
			wantApplied: nothingApplied,
		},

		"import: no status yet": {
			step: "infra-import", properties: importProps,
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraImport shop-import: importing",
			wantApplied: func(t *testing.T, objs []*unstructured.Unstructured) {
				want := map[string]any{
					// The variables are not in the object (a password would
					// be): the step writes them where the step-runner names.
					"target":    map[string]any{"configurationName": "db", "spec": map[string]any{"hcl": "# module"}, "variablesFrom": "Secret"},
					"resources": importProps["resources"], "request": "session-1",
				}
				if len(objs) != 1 || objs[0].GetKind() != "InfraImport" || objs[0].GetName() != "shop-import" || objs[0].GetNamespace() != "shop-ns" {
					t.Fatalf("applied %v, want the InfraImport shop-ns/shop-import", objs)
				}
				if diff := cmp.Diff(want, objs[0].Object["spec"]); diff != "" {
					t.Errorf("InfraImport spec (-want +got):\n%s", diff)
				}
			},
		},
		"import: importing": {
			step: "infra-import", properties: importProps,
			status:    objectStatus(1, pending(infrav1alpha1.ReasonProgressing, "importing mycloud_mysql.this")),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraImport shop-import: importing mycloud_mysql.this",
		},
		"import: ready for an older generation": {
			step: "infra-import", properties: importProps, generation: 2,
			status:    objectStatus(1, ready(infrav1alpha1.ReasonSucceeded, "imported 1 resource")),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraImport shop-import: importing",
		},
		"import: imported": {
			step: "infra-import", properties: importProps, outputs: []string{"imported"},
			status:    with(objectStatus(1, ready(infrav1alpha1.ReasonSucceeded, "imported 1 resource: mycloud_mysql.this = mysql-1a2b")), "imported", []any{map[string]any{"address": "mycloud_mysql.this", "id": "mysql-1a2b"}}),
			wantPhase: succeeded, wantMessage: "imported 1 resource: mycloud_mysql.this = mysql-1a2b",
			wantOutputs: map[string]any{"imported": 1.0},
		},
		"import: stalled": {
			step: "infra-import", properties: importProps,
			status:    objectStatus(1, pending(infrav1alpha1.ReasonWouldReplace, "x"), stalled(infrav1alpha1.ReasonWouldReplace, "InfraImport shop-ns/shop-import: the plan after the import would replace mycloud_mysql.this; the state is unchanged")),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "InfraImport shop-ns/shop-import: the plan after the import would replace mycloud_mysql.this; the state is unchanged",
		},
		"import: stalled for an older generation": {
			step: "infra-import", properties: importProps, generation: 3,
			status:    objectStatus(2, stalled(infrav1alpha1.ReasonWouldReplace, "old")),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraImport shop-import: importing",
		},

		"drift: no status yet": {
			step: "infra-drift", properties: driftProps(""),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraDrift shop-drift: checking for drift",
		},
		"drift: none": {
			step: "infra-drift", properties: driftProps("fail"), outputs: []string{"drifted", "driftedResources"},
			status:    with(with(objectStatus(1, ready(infrav1alpha1.ReasonNoDrift, "no drift")), "drifted", false), "drift", map[string]any{"add": int64(0), "change": int64(0), "destroy": int64(0)}),
			wantPhase: succeeded, wantMessage: "no drift",
			wantOutputs: map[string]any{"drifted": false, "driftedResources": 0.0},
		},
		"drift: found, reported": {
			step: "infra-drift", properties: driftProps(""), outputs: []string{"drifted", "driftedResources"},
			status:    with(with(objectStatus(1, ready(infrav1alpha1.ReasonDriftFound, "1 resource changed in the cloud")), "drifted", true), "drift", drift),
			wantPhase: succeeded, wantMessage: "1 resource changed in the cloud",
			wantOutputs: map[string]any{"drifted": true, "driftedResources": 1.0},
		},
		"drift: found, onDrift fail": {
			step: "infra-drift", properties: driftProps("fail"),
			status:    with(with(objectStatus(1, ready(infrav1alpha1.ReasonDriftFound, "1 resource changed in the cloud")), "drifted", true), "drift", drift),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "1 resource changed in the cloud",
		},
		"drift: found, onDrift suspend": {
			step: "infra-drift", properties: driftProps("suspend"),
			status:    with(with(objectStatus(1, ready(infrav1alpha1.ReasonDriftFound, "1 resource changed in the cloud")), "drifted", true), "drift", drift),
			wantPhase: suspending, wantReason: wftypes.StatusReasonSuspend, wantMessage: "Suspended by field holdOnDrift",
		},
		"drift: stalled": {
			step: "infra-drift", properties: driftProps(""),
			status:    objectStatus(1, stalled(infrav1alpha1.ReasonConfigurationNotFound, "Configuration shop-ns/db does not exist")),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "Configuration shop-ns/db does not exist",
		},

		"plan: no status yet": {
			step: "infra-plan", properties: db,
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraApproval shop-db: planning the change",
			wantApplied: func(t *testing.T, objs []*unstructured.Unstructured) {
				if len(objs) != 1 || objs[0].GetKind() != "InfraApproval" || objs[0].GetName() != "shop-db" {
					t.Fatalf("applied %v, want the InfraApproval shop-db", objs)
				}
				if _, ok := objs[0].Object["spec"].(map[string]any)["approval"]; ok {
					t.Error("infra-plan applied an approval")
				}
			},
		},
		"plan: the variables, written where the step-runner names": {
			step: "infra-plan", properties: db,
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonAwaitingVariables, "waits for its variables")), "variablesSecret", "vela-system/tfvars-infraapproval.shop-ns.shop-db"),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraApproval shop-db: waits for its variables",
			wantApplied: func(t *testing.T, objs []*unstructured.Unstructured) {
				if len(objs) != 2 || objs[0].GetKind() != "InfraApproval" || objs[1].GetKind() != "Secret" {
					t.Fatalf("applied %v, want the InfraApproval shop-db and its variables Secret", objs)
				}
				want := map[string]any{
					"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
					"metadata": map[string]any{"namespace": "vela-system", "name": "tfvars-infraapproval.shop-ns.shop-db",
						"labels": map[string]any{"infra.vela-infra.io/variables-kind": "InfraApproval",
							"infra.vela-infra.io/variables-namespace": "shop-ns", "infra.vela-infra.io/variables-name": "shop-db"},
						"annotations": map[string]any{"infra.vela-infra.io/request": "session-1"}},
					"stringData": map[string]any{"variables": `{"name":"orders"}`},
				}
				if diff := cmp.Diff(want, objs[1].Object); diff != "" {
					t.Errorf("variables Secret (-want +got):\n%s", diff)
				}
			},
		},
		"plan: a status that names another Secret is not obeyed": {
			step: "infra-plan", properties: db,
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonAwaitingVariables, "waits for its variables")), "variablesSecret", "vela-system/mycloud-credentials"),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: "status.variablesSecret vela-system/mycloud-credentials is not the Secret the step-runner names for this object (tfvars-infraapproval.shop-ns.shop-db): not writing the variables there",
			wantApplied: func(t *testing.T, objs []*unstructured.Unstructured) {
				for _, o := range objs {
					if o.GetKind() == "Secret" {
						t.Errorf("applied the Secret %s/%s", o.GetNamespace(), o.GetName())
					}
				}
			},
		},
		"plan: planning": {
			step: "infra-plan", properties: db,
			status:    objectStatus(1, pending(infrav1alpha1.ReasonProgressing, "running terraform plan")),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraApproval shop-db: running terraform plan",
		},
		"plan: awaiting approval": {
			step: "infra-plan", properties: db, outputs: []string{"planID", "changes"},
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonAwaitingApproval, diff)), "plan", plan),
			wantPhase: succeeded, wantMessage: diff,
			wantOutputs: map[string]any{"planID": "p-42", "changes": 3.0},
		},
		"plan: no changes": {
			step: "infra-plan", properties: db,
			status:    objectStatus(1, ready(infrav1alpha1.ReasonNoChanges, "no changes")),
			wantPhase: succeeded, wantMessage: "no changes",
		},
		"plan: stalled": {
			step: "infra-plan", properties: db,
			status:    objectStatus(1, stalled(infrav1alpha1.ReasonTerraformFailed, "terraform plan failed: bad variable")),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "terraform plan failed: bad variable",
		},

		"plan: passed by policy": {
			step: "infra-plan", properties: db,
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonPolicyApproved, "passes without a person's approval: InfraPolicy tags (approve)")), "plan", plan),
			wantPhase: succeeded, wantMessage: "passes without a person's approval: InfraPolicy tags (approve)",
		},
		"plan: stopped by policy": {
			step: "infra-plan", properties: db,
			status:    with(objectStatus(1, stalled(infrav1alpha1.ReasonPolicyDenied, "plan p-42 cannot be approved: InfraPolicy no-replace (mandatory)")), "plan", plan),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "plan p-42 cannot be approved: InfraPolicy no-replace (mandatory)",
		},

		"approve: no plan": {
			step: "infra-approve", properties: db, readErr: `infraapprovals.infra.vela-infra.io "shop-db" not found`,
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: `No plan to approve for component db: put an infra-plan step for it before this step (infraapprovals.infra.vela-infra.io "shop-db" not found)`,
		},
		"approve: still planning": {
			step: "infra-approve", properties: db,
			status:    objectStatus(1, pending(infrav1alpha1.ReasonProgressing, "running terraform plan")),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraApproval shop-db: running terraform plan",
		},
		"approve: awaiting approval": {
			step: "infra-approve", properties: db, spec: map[string]any{"request": "plan-session"},
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonAwaitingApproval, diff)), "plan", plan),
			wantPhase: suspending, wantReason: wftypes.StatusReasonSuspend, wantMessage: "Suspended by field hold",
			wantApplied: func(t *testing.T, objs []*unstructured.Unstructured) {
				if len(objs) != 0 {
					t.Errorf("applied %v before the resume", objs)
				}
			},
		},
		"approve: resumed": {
			step: "infra-approve", properties: db, spec: map[string]any{"request": "plan-session"}, resumed: true,
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonAwaitingApproval, diff)), "plan", plan),
			wantPhase: running, wantReason: wftypes.StatusReasonWait, wantMessage: "InfraApproval shop-db: applying the approved plan p-42",
			wantApplied: approvedP42,
		},
		// Passed by the policies: approved at once, no suspend.
		"approve: passed by policy": {
			step: "infra-approve", properties: db, spec: map[string]any{"request": "plan-session"},
			status:    with(objectStatus(1, pending(infrav1alpha1.ReasonPolicyApproved, "passes: InfraPolicy tags (approve)")), "plan", plan),
			wantPhase: running, wantReason: wftypes.StatusReasonWait,
			wantMessage: "InfraApproval shop-db: applying plan p-42, which the policies pass: passes: InfraPolicy tags (approve)",
			wantApplied: approvedP42,
		},
		"approve: stopped by policy": {
			step: "infra-approve", properties: db,
			status:    objectStatus(1, stalled(infrav1alpha1.ReasonPolicyDenied, "plan p-42 cannot be approved: InfraPolicy no-replace (mandatory)")),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "plan p-42 cannot be approved: InfraPolicy no-replace (mandatory)",
			wantApplied: nothingApplied,
		},
		"approve: no changes": {
			step: "infra-approve", properties: db,
			status:    objectStatus(1, ready(infrav1alpha1.ReasonNoChanges, "no changes")),
			wantPhase: succeeded, wantMessage: "no changes",
		},
		"approve: applied": {
			step: "infra-approve", properties: db,
			status:    objectStatus(1, ready(infrav1alpha1.ReasonApplied, "applied plan p-42: 1 added, 2 changed, 0 destroyed")),
			wantPhase: succeeded, wantMessage: "applied plan p-42: 1 added, 2 changed, 0 destroyed",
		},
		"approve: plan changed": {
			step: "infra-approve", properties: db,
			status:    objectStatus(1, pending(infrav1alpha1.ReasonPlanChanged, "The plan changed after it was approved; nothing was applied.")),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction,
			wantMessage: "The plan changed after it was approved; nothing was applied. Run `vela workflow restart shop` to review and approve the new plan.",
		},
		"approve: stalled": {
			step: "infra-approve", properties: db,
			status:    objectStatus(1, stalled(infrav1alpha1.ReasonTerraformFailed, "terraform apply failed: quota exceeded")),
			wantPhase: failed, wantReason: wftypes.StatusReasonAction, wantMessage: "terraform apply failed: quota exceeded",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			props, err := json.Marshal(tc.properties)
			if err != nil {
				t.Fatal(err)
			}
			stepName := strings.TrimPrefix(tc.step, "infra-")
			step := wfv1alpha1.WorkflowStep{WorkflowStepBase: wfv1alpha1.WorkflowStepBase{
				Name: stepName, Type: tc.step, Properties: &runtime.RawExtension{Raw: props},
			}}
			for _, o := range tc.outputs {
				step.Outputs = append(step.Outputs, wfv1alpha1.OutputItem{Name: o, ValueFrom: o})
			}
			c := &cluster{generation: tc.generation, status: tc.status, spec: tc.spec, readErr: tc.readErr}
			if c.generation == 0 {
				c.generation = 1
			}
			if c.spec == nil {
				c.spec = map[string]any{}
			}
			run := runStep(t, c, step, tc.resumed)
			got := fmt.Sprintf("%s %s: %s", run.status.Phase, run.status.Reason, run.status.Message)
			if want := fmt.Sprintf("%s %s: %s", tc.wantPhase, tc.wantReason, tc.wantMessage); got != want {
				t.Errorf("step status\n got %s\nwant %s", got, want)
			}
			if tc.wantOutputs != nil {
				if diff := cmp.Diff(tc.wantOutputs, run.outputs); diff != "" {
					t.Errorf("outputs (-want +got):\n%s", diff)
				}
			}
			if tc.wantApplied != nil {
				tc.wantApplied(t, run.applied)
			}
		})
	}
}

// TestStepShardLabel: every step-run object a step applies, and its
// variables Secret, carry the Application's KubeVela shard
// (controller.core.oam.dev/scheduled-shard-id), so that the step-runner
// replica serving that shard runs it; an Application without one (labels
// absent, null as vela-core passes none, or other labels only) gives them
// none, and the master shard serves them.
func TestStepShardLabel(t *testing.T) {
	t.Parallel()
	wfcontext.EnableInMemoryContext = true
	singleton.KubeClient.Set(fake.NewClientBuilder().Build())
	const key = "controller.core.oam.dev/scheduled-shard-id"
	kinds := map[string]struct {
		properties map[string]any
		secret     string
	}{
		"infra-import": {map[string]any{"component": "db", "resources": []any{map[string]any{"address": "mycloud_mysql.this", "id": "mysql-1a2b"}}}, "vela-system/tfvars-infraimport.shop-ns.shop-import"},
		"infra-drift":  {map[string]any{"component": "db"}, "vela-system/tfvars-infradrift.shop-ns.shop-drift"},
		"infra-plan":   {map[string]any{"component": "db"}, "vela-system/tfvars-infraapproval.shop-ns.shop-db"},
	}
	labelCases := map[string]struct {
		labels map[string]string
		set    bool
		want   string
	}{
		"no appLabels":         {},
		"appLabels null":       {set: true},
		"other labels only":    {labels: map[string]string{"team": "shop"}, set: true},
		"scheduled to shard-1": {labels: map[string]string{"team": "shop", key: "shard-1"}, set: true, want: "shard-1"},
	}
	for stepType, st := range kinds {
		for name, lc := range labelCases {
			t.Run(stepType+"/"+name, func(t *testing.T) {
				t.Parallel()
				props, err := json.Marshal(st.properties)
				if err != nil {
					t.Fatal(err)
				}
				step := wfv1alpha1.WorkflowStep{WorkflowStepBase: wfv1alpha1.WorkflowStepBase{
					Name: strings.TrimPrefix(stepType, "infra-"), Type: stepType, Properties: &runtime.RawExtension{Raw: props},
				}}
				c := &cluster{generation: 1, spec: map[string]any{}, appLabels: lc.labels, hasAppLabel: lc.set,
					status: with(objectStatus(1, pending(infrav1alpha1.ReasonAwaitingVariables, "waits for its variables")), "variablesSecret", st.secret)}
				run := runStep(t, c, step, false)
				if len(run.applied) != 2 {
					t.Fatalf("applied %d objects, want the step-run object and its variables Secret (step %s: %s)", len(run.applied), run.status.Phase, run.status.Message)
				}
				for _, obj := range run.applied {
					got, ok := obj.GetLabels()[key]
					if got != lc.want || ok != (lc.want != "") {
						t.Errorf("%s %s: label %s = %q (set %v), want %q", obj.GetKind(), obj.GetName(), key, got, ok, lc.want)
					}
				}
			})
		}
	}
}
