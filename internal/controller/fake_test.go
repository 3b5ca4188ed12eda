package controller

// The fast tier: the reconcilers against controller-runtime's fake client
// (status subresource on) and a scripted fake Workspace. No API server and
// no Terraform: `go test -run Fake ./internal/controller/` runs in
// milliseconds and needs no binaries. The tests against the real parts are
// in package controller_test (suite_test.go).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// The fake tests' namespace, Configuration and its resource.
const (
	fakeNS   = "team"
	fakeCfg  = "network"
	fakeAddr = "mycloud_vpc.this"
	fakeID   = "vpc-legacy01"
)

// planReply is what the fake workspace's next Plan returns.
type planReply struct {
	plan    *tfjson.Plan
	changes bool
	err     error
}

// fakeWorkspace plays back scripted Terraform results and records the
// commands it was asked to run.
type fakeWorkspace struct {
	t     *testing.T
	dir   string
	state *tfjson.State
	plans []planReply
	// Errors of the other commands; importErr by address.
	importErr          map[string]error
	applyErr, stateErr error
	pullErr, pushErr   error
	calls              []string
	closed             bool
	// during, when set, runs as each plan starts (to look at the object
	// mid-run).
	during func()
}

func (w *fakeWorkspace) Plan(_ context.Context, o terraform.PlanOptions) (*terraform.PlanResult, error) {
	call := "plan " + o.Out
	switch {
	case o.RefreshOnly:
		call += " -refresh-only"
	case len(o.Imports) > 0:
		call += " imports=" + strings.Join(keys(o.Imports), ",")
	}
	w.calls = append(w.calls, strings.TrimSpace(call))
	if w.during != nil {
		w.during()
	}
	if len(w.plans) == 0 {
		w.t.Errorf("unexpected %s", call)
		return nil, &terraform.Error{Op: "plan", Reason: terraform.ReasonFailed, Summary: "unexpected plan"}
	}
	reply := w.plans[0]
	w.plans = w.plans[1:]
	if reply.err != nil {
		return nil, reply.err
	}
	out := o.Out
	if out == "" {
		out = "plan.tfplan"
	}
	file := filepath.Join(w.dir, out)
	// The file's content tells the plans apart in the plan Secret.
	if err := os.WriteFile(file, []byte(fmt.Sprintf("plan %d of %s", len(w.calls), out)), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return &terraform.PlanResult{File: file, Plan: reply.plan, Changes: reply.changes}, nil
}

// Apply records which plan it was given: the file's name and content.
func (w *fakeWorkspace) Apply(_ context.Context, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		w.t.Errorf("apply %s: %v", file, err)
	}
	w.calls = append(w.calls, fmt.Sprintf("apply %s (%s)", filepath.Base(file), data))
	return w.applyErr
}

func (w *fakeWorkspace) Import(_ context.Context, address, id string) error {
	w.calls = append(w.calls, "import "+address+" "+id)
	return w.importErr[address]
}

func (w *fakeWorkspace) State(context.Context) (*tfjson.State, error) {
	w.calls = append(w.calls, "state")
	return w.state, w.stateErr
}

func (w *fakeWorkspace) PullState(context.Context) (string, error) {
	w.calls = append(w.calls, "state pull")
	return `{"serial":1}`, w.pullErr
}

func (w *fakeWorkspace) PushState(_ context.Context, state string) error {
	w.calls = append(w.calls, "state push "+state)
	return w.pushErr
}

func (w *fakeWorkspace) Output() string {
	if len(w.calls) == 0 {
		return ""
	}
	return "$ terraform " + strings.Join(w.calls, "\n$ terraform ")
}

func (w *fakeWorkspace) Dir() string { return w.dir }
func (w *fakeWorkspace) Close()      { w.closed = true }

// fakeOpener opens ws, or fails with err (a failed terraform init).
type fakeOpener struct {
	ws     *fakeWorkspace
	err    error
	opened int
	// target is the last target opened.
	target terraform.Target
}

func (o *fakeOpener) Open(_ context.Context, t terraform.Target) (Workspace, error) {
	o.opened++
	o.target = t
	if o.err != nil {
		return nil, o.err
	}
	return o.ws, nil
}

// fakeEnv is one fake test's cluster and Terraform.
type fakeEnv struct {
	t        *testing.T
	c        client.Client
	rt       *Runtime
	ws       *fakeWorkspace
	opener   *fakeOpener
	recorder *record.FakeRecorder
}

// newFakeEnv starts a fake cluster holding the Configuration, its Provider
// and credentials, and objs.
func newFakeEnv(t *testing.T, objs ...client.Object) *fakeEnv {
	t.Helper()
	scheme, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	base := []client.Object{
		&tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: fakeCfg}, Spec: tfv1beta2.ConfigurationSpec{
			HCL:               `resource "mycloud_vpc" "this" {}`,
			ProviderReference: &crossplane.Reference{Namespace: fakeNS, Name: "mycloud"},
		}},
		&tfv1beta1.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "mycloud"}, Spec: tfv1beta1.ProviderSpec{
			Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{
				Source:    crossplane.CredentialsSourceSecret,
				SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: fakeNS, Name: "creds"}, Key: "credentials"},
			},
		}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "creds"}, Data: map[string][]byte{
			"credentials": []byte("MYCLOUD_ENDPOINT: http://127.0.0.1:8480\nMYCLOUD_ACCESS_KEY: AKFAKE\nMYCLOUD_SECRET_KEY: fake-secret-key\n"),
		}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&v1alpha1.InfraImport{}, &v1alpha1.InfraDrift{}, &v1alpha1.InfraApproval{}, &v1alpha1.InfraDiscovery{}).
		WithObjects(append(base, objs...)...).
		WithInterceptorFuncs(interceptor.Funcs{Patch: applyAsUpdate}).Build()
	ws := &fakeWorkspace{t: t, dir: t.TempDir()}
	opener := &fakeOpener{ws: ws}
	recorder := record.NewFakeRecorder(16)
	return &fakeEnv{t: t, c: c, ws: ws, opener: opener, recorder: recorder, rt: &Runtime{
		Client:     c,
		Resolver:   &target.Resolver{Client: c},
		Workspaces: opener,
		Recorder:   recorder,
		RetryAfter: time.Second,
		// No Progressing write unless a test asks for one.
		ProgressAfter: time.Hour,
	}}
}

// applyAsUpdate stands in for server-side apply, which the fake client
// lacks: the step-runner applies whole objects it owns (the output
// ConfigMap), so here an apply creates or replaces the object.
func applyAsUpdate(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if patch.Type() != types.ApplyPatchType {
		return c.Patch(ctx, obj, patch, opts...)
	}
	current := obj.DeepCopyObject().(client.Object)
	err := c.Get(ctx, client.ObjectKeyFromObject(obj), current)
	if apierrors.IsNotFound(err) {
		return c.Create(ctx, obj)
	}
	if err != nil {
		return err
	}
	obj.SetResourceVersion(current.GetResourceVersion())
	return c.Update(ctx, obj)
}

// observed is what a reconcile left, in a form cmp.Diff compares.
type observed struct {
	Result ctrl.Result
	Err    string
	// Conditions maps each type to "Status Reason: message".
	Conditions map[string]string
	// Calls are the Terraform commands run, in order.
	Calls  []string
	Events []string
	// Done is whether the object's generation counts as carried out (a
	// next reconcile does nothing).
	Done bool
}

// reconcile runs r once for obj's key and reads back what it left.
func (e *fakeEnv) reconcile(r interface {
	Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
}, obj stepObject) observed {
	e.t.Helper()
	e.ws.calls = nil
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
	got := observed{Result: res, Conditions: map[string]string{}, Calls: e.ws.calls}
	if err != nil {
		got.Err = err.Error()
	}
	if gerr := e.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); gerr != nil {
		e.t.Fatal(gerr)
	}
	for _, c := range obj.GetRunStatus().Conditions {
		got.Conditions[c.Type] = fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
		// A run that ended reports on the object's generation; conditions
		// of a kind's own may be older (a plan shown before the approval).
		if c.Type == v1alpha1.ConditionReady && err == nil && c.ObservedGeneration != obj.GetGeneration() {
			e.t.Errorf("Ready observed generation %d, object's %d", c.ObservedGeneration, obj.GetGeneration())
		}
	}
	for len(e.recorder.Events) > 0 {
		got.Events = append(got.Events, <-e.recorder.Events)
	}
	got.Done = done(obj)
	if e.opener.opened > 0 && e.opener.err == nil && !e.ws.closed {
		e.t.Error("the workspace was not closed")
	}
	return got
}

// output reads the run output the object's ConfigMap keeps.
func (e *fakeEnv) output(name string) string {
	e.t.Helper()
	var cm corev1.ConfigMap
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: fakeNS, Name: name}, &cm); err != nil {
		return "(none: " + err.Error() + ")"
	}
	return cm.Data["output.txt"]
}

// conds builds the expected Conditions of observed from type, "Status
// Reason: message" pairs.
func conds(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// stalledWith, waitingWith and readyWith are the summary conditions of
// each kind of outcome.
func stalledWith(reason, msg string, extra ...string) map[string]string {
	return conds(append([]string{
		v1alpha1.ConditionReady, "False " + reason + ": " + msg,
		v1alpha1.ConditionStalled, "True " + reason + ": " + msg,
	}, extra...)...)
}

func waitingWith(reason, msg string, extra ...string) map[string]string {
	return conds(append([]string{
		v1alpha1.ConditionReady, "False " + reason + ": " + msg,
		v1alpha1.ConditionReconciling, "True " + reason + ": " + msg,
	}, extra...)...)
}

func readyWith(reason, msg string, extra ...string) map[string]string {
	return conds(append([]string{v1alpha1.ConditionReady, "True " + reason + ": " + msg}, extra...)...)
}

func after(d time.Duration) ctrl.Result { return ctrl.Result{RequeueAfter: d} }

// tfErr is a failed Terraform command as internal/terraform classifies it.
func tfErr(reason, summary string) error {
	return &terraform.Error{Op: "plan", Reason: reason, Summary: summary, Output: "Error: " + summary}
}

// vpc is a resource change of the VPC; before and after are its cidr
// (empty: no object).
func vpc(actions tfjson.Actions, before, after string) *tfjson.ResourceChange {
	obj := func(cidr string) any {
		if cidr == "" {
			return nil
		}
		return map[string]any{"id": fakeID, "cidr": cidr}
	}
	return &tfjson.ResourceChange{
		Address: fakeAddr, Mode: tfjson.ManagedResourceMode, Type: "mycloud_vpc", Name: "this",
		Change: &tfjson.Change{Actions: actions, Before: obj(before), After: obj(after)},
	}
}

func planOf(changes ...*tfjson.ResourceChange) *tfjson.Plan {
	return &tfjson.Plan{ResourceChanges: changes}
}

// stateWith is a state managing the VPC under id.
func stateWith(id string) *tfjson.State {
	return &tfjson.State{Values: &tfjson.StateValues{RootModule: &tfjson.StateModule{Resources: []*tfjson.StateResource{{
		Address: fakeAddr, Mode: tfjson.ManagedResourceMode, Type: "mycloud_vpc", Name: "this", AttributeValues: map[string]any{"id": id},
	}}}}}
}

var (
	create  = tfjson.Actions{tfjson.ActionCreate}
	update  = tfjson.Actions{tfjson.ActionUpdate}
	noop    = tfjson.Actions{tfjson.ActionNoop}
	replace = tfjson.Actions{tfjson.ActionDelete, tfjson.ActionCreate}
)

func itoa(n int) string { return fmt.Sprint(n) }
