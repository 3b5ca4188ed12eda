package controller

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// ImportReconciler carries out InfraImport objects.
type ImportReconciler struct {
	*Runtime
	MaxConcurrent int
}

// SetupWithManager registers the reconciler.
func (r *ImportReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.register(mgr, &v1alpha1.InfraImport{}, r.MaxConcurrent, r)
}

// Reconcile imports the listed resources, refusing (with the state left as
// it was) any import after which the plan would destroy or replace them.
func (r *ImportReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.InfraImport{}
	return r.reconcileStep(ctx, req.NamespacedName, obj, step{
		due:      whenNotDone(obj),
		validate: func() error { return validateImport(obj) },
		run: func(ctx context.Context, res *Resolved, ws *terraform.Workspace) (ctrl.Result, error) {
			return r.importAll(ctx, obj, res, ws)
		},
	})
}

// addressRE accepts resource addresses such as mycloud_vpc.this,
// module.net.mycloud_vpc.this and mycloud_bucket.b["x"] / [0].
var addressRE = regexp.MustCompile(`^(module\.[A-Za-z_][\w-]*(\[[^\]]+\])?\.)*[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*(\[("[^"]*"|\d+)\])?$`)

// idRE rejects ids that cannot be cloud ids (blank, spaces, quotes, newlines).
var idRE = regexp.MustCompile(`^[^\s"'\\]{1,256}$`)

func validateImport(obj *v1alpha1.InfraImport) error {
	seen := map[string]int{}
	for i, res := range obj.Spec.Resources {
		field := fmt.Sprintf("spec.resources[%d]", i)
		if !addressRE.MatchString(res.Address) {
			return stalled(v1alpha1.ReasonInvalidSpec, "InfraImport %s/%s: %s.address %q is not a Terraform resource address such as mycloud_vpc.this",
				obj.Namespace, obj.Name, field, res.Address)
		}
		if !idRE.MatchString(res.ID) {
			return stalled(v1alpha1.ReasonInvalidSpec, "InfraImport %s/%s: %s.id %q is not a cloud id: it must be 1-256 characters without spaces or quotes",
				obj.Namespace, obj.Name, field, res.ID)
		}
		if j, dup := seen[res.Address]; dup {
			return stalled(v1alpha1.ReasonInvalidSpec, "InfraImport %s/%s: %s.address %s repeats spec.resources[%d]", obj.Namespace, obj.Name, field, res.Address, j)
		}
		seen[res.Address] = i
	}
	return nil
}

func (r *ImportReconciler) importAll(ctx context.Context, obj *v1alpha1.InfraImport, res *Resolved, ws *terraform.Workspace) (ctrl.Result, error) {
	name := fmt.Sprintf("InfraImport %s/%s", obj.Namespace, obj.Name)
	state, err := ws.State(ctx)
	if err != nil {
		return r.fail(obj, "reading the state", err)
	}
	managed := terraform.ResourceIDs(state)
	toImport := map[string]string{}
	var skipped []string
	for i, item := range obj.Spec.Resources {
		switch have, ok := managed[item.Address]; {
		case ok && have == item.ID:
			skipped = append(skipped, item.Address)
		case ok:
			return r.fail(obj, "import", stalled(v1alpha1.ReasonInvalidSpec,
				"%s: spec.resources[%d]: %s already manages %s in Configuration %s, not %s; remove it from the list or from the state first",
				name, i, item.Address, have, res.Configuration.Name, item.ID))
		default:
			toImport[item.Address] = item.ID
		}
	}

	// Plan with import blocks first: it shows what an import would lead to
	// without touching the state.
	if len(toImport) > 0 {
		check, err := ws.Plan(ctx, terraform.PlanOptions{Imports: toImport, Out: "import-check.tfplan"})
		if err != nil {
			return r.fail(obj, "planning the import ("+describeImports(toImport)+")", err)
		}
		if bad := destructive(plan.Summarize(check.Plan), toImport); len(bad) > 0 {
			s := plan.Summarize(check.Plan)
			obj.Status.Plan = s
			stall(obj, v1alpha1.ReasonWouldReplace, strings.TrimSpace(fmt.Sprintf(
				"%s refused: after importing, Terraform would %s; the state is unchanged. Align the component's properties with the existing resource and retry. %s %s",
				name, strings.Join(bad, ", "), plan.SuggestionText(plan.Suggest(check.Plan, keys(toImport))), s.Diff)))
			return ctrl.Result{}, nil
		}
	}

	backup, err := ws.PullState(ctx)
	if err != nil {
		return r.fail(obj, "backing up the state", err)
	}
	addrs := make([]string, 0, len(toImport))
	for a := range toImport {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		if err := ws.Import(ctx, addr, toImport[addr]); err != nil {
			return r.restore(ctx, obj, ws, backup, "importing "+addr, err)
		}
	}
	after, err := ws.Plan(ctx, terraform.PlanOptions{})
	if err != nil {
		return r.restore(ctx, obj, ws, backup, "planning after the import", err)
	}
	s := plan.Summarize(after.Plan)
	if bad := destructive(s, toImport); len(bad) > 0 {
		obj.Status.Plan = s
		if _, err := r.restore(ctx, obj, ws, backup, "", nil); err != nil {
			return ctrl.Result{}, err
		}
		stall(obj, v1alpha1.ReasonWouldReplace, fmt.Sprintf("%s refused: after importing, Terraform would %s; the state was restored. %s", name, strings.Join(bad, ", "), s.Diff))
		return ctrl.Result{}, nil
	}
	obj.Status.Plan = s
	obj.Status.Imported = addrs
	obj.Status.Skipped = skipped
	obj.Status.LastRunTime = now()
	msg := fmt.Sprintf("%s adopted %d resource(s) into Configuration %s (%d already there); %s",
		name, len(addrs), res.Configuration.Name, len(skipped), footerOf(s))
	if s.Change > 0 || s.Add > 0 {
		msg += " Review the in-place changes before applying."
		if hint := plan.SuggestionText(plan.Suggest(after.Plan, addrs)); hint != "" {
			msg += " " + hint
		}
		msg += " " + s.Diff
	}
	setCond(obj, v1alpha1.ConditionImported, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, msg)
	succeed(obj, v1alpha1.ReasonSucceeded, msg)
	log.FromContext(ctx).Info("imported", "configuration", res.Configuration.Name, "imported", addrs, "skipped", skipped)
	return ctrl.Result{}, nil
}

// restore puts the backed-up state back after a failed import.
func (r *ImportReconciler) restore(ctx context.Context, obj *v1alpha1.InfraImport, ws *terraform.Workspace, backup, what string, cause error) (ctrl.Result, error) {
	if err := ws.PushState(ctx, backup); err != nil {
		// The state may now hold a partial import: say so loudly.
		stall(obj, v1alpha1.ReasonTerraformFailed, fmt.Sprintf(
			"InfraImport %s/%s: restoring the state after a failed import failed (%v); inspect it with terraform state list before retrying", obj.Namespace, obj.Name, err))
		return ctrl.Result{}, nil
	}
	if cause == nil {
		return ctrl.Result{}, nil
	}
	return r.fail(obj, what+" (state restored)", cause)
}

func describeImports(imports map[string]string) string {
	parts := make([]string, 0, len(imports))
	for addr, id := range imports {
		parts = append(parts, addr+" <- "+id)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// destructive lists the imported addresses the plan would replace or delete.
func destructive(s *v1alpha1.PlanSummary, imported map[string]string) []string {
	var bad []string
	for _, rc := range s.Resources {
		if _, ok := imported[rc.Address]; !ok {
			continue
		}
		if rc.Action == plan.ActionReplace || rc.Action == plan.ActionDelete {
			bad = append(bad, rc.Action+" "+rc.Address)
		}
	}
	return bad
}

func footerOf(s *v1alpha1.PlanSummary) string {
	if i := strings.LastIndex(s.Diff, "Plan: "); i >= 0 {
		return s.Diff[i:]
	}
	return s.Diff
}

// keys lists a map's keys, sorted.
func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
