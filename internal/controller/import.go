package controller

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	tfjson "github.com/hashicorp/terraform-json"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

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
		run: func(ctx context.Context, p *pass) (outcome, error) {
			if err := r.ownedElsewhere(ctx, obj, p); err != nil {
				return p.fail("checking who owns the resources", err)
			}
			return importAll(ctx, obj, p)
		},
	})
}

// ownedElsewhere refuses to import a resource another Configuration already
// owns (its output id, read from the cache): two owners would each plan,
// change and destroy it. A reference component reads it instead.
func (r *ImportReconciler) ownedElsewhere(ctx context.Context, obj *v1alpha1.InfraImport, p *pass) error {
	var all tfv1beta2.ConfigurationList
	if err := r.Client.List(ctx, &all); err != nil {
		return fmt.Errorf("list Configurations: %w", err)
	}
	for i, res := range obj.Spec.Resources {
		for j := range all.Items {
			c := &all.Items[j]
			if c.Namespace == obj.Namespace && c.Name == p.res.Configuration.Name {
				continue
			}
			for _, id := range outputIDs(c) {
				if id == res.ID {
					return invalidSpec("InfraImport %s/%s: spec.resources[%d].id %s is already managed by %s: two owners would each change and destroy it; use it without owning it with a reference component (mycloud-*-ref, property id)",
						obj.Namespace, obj.Name, i, res.ID, consumerName(v1alpha1.Consumer{Namespace: c.Namespace, Configuration: c.Name,
							Application: c.Labels["app.oam.dev/name"], Component: c.Labels["app.oam.dev/component"]}))
				}
			}
		}
	}
	return nil
}

// addressRE accepts resource addresses such as mycloud_vpc.this,
// module.net.mycloud_vpc.this and mycloud_bucket.b["x"] / [0]; a key is a
// plain string (no escape, template or control character), which the import
// block's `to` reads as written (FuzzValidateImport).
var addressRE = regexp.MustCompile(`^(module\.[A-Za-z_][\w-]*(\[("[^"\\$%\x00-\x1f\x7f]*"|\d+)\])?\.)*[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*(\[("[^"\\$%\x00-\x1f\x7f]*"|\d+)\])?$`)

// idRE rejects ids that cannot be cloud ids (blank, spaces, quotes, newlines).
var idRE = regexp.MustCompile(`^[^\s"'\\]{1,256}$`)

func validateImport(obj *v1alpha1.InfraImport) error {
	seen := map[string]int{}
	for i, res := range obj.Spec.Resources {
		field := fmt.Sprintf("spec.resources[%d]", i)
		if !addressRE.MatchString(res.Address) || !utf8.ValidString(res.Address) {
			return invalidSpec("InfraImport %s/%s: %s.address %q is not a Terraform resource address such as mycloud_vpc.this",
				obj.Namespace, obj.Name, field, res.Address)
		}
		if !idRE.MatchString(res.ID) || !utf8.ValidString(res.ID) || strings.IndexFunc(res.ID, unicode.IsControl) >= 0 {
			return invalidSpec("InfraImport %s/%s: %s.id %q is not a cloud id: it must be 1-256 printable characters without spaces or quotes",
				obj.Namespace, obj.Name, field, res.ID)
		}
		if j, dup := seen[res.Address]; dup {
			return invalidSpec("InfraImport %s/%s: %s.address %s repeats spec.resources[%d]", obj.Namespace, obj.Name, field, res.Address, j)
		}
		seen[res.Address] = i
	}
	return nil
}

// importAll imports what the state does not hold yet: first a plan with
// import blocks shows, without touching the state, what the import would
// lead to; then the state is backed up, the resources imported and planned
// again, and the backup restored if anything fails or the plan would
// replace or delete an imported resource.
func importAll(ctx context.Context, obj *v1alpha1.InfraImport, p *pass) (outcome, error) {
	state, err := p.ws.State(ctx)
	if err != nil {
		return p.fail("reading the state", err)
	}
	toImport, skipped, err := partition(obj, p, terraform.ResourceIDs(state))
	if err != nil {
		return p.fail("import", err)
	}
	if len(toImport) > 0 {
		if o, err := precheck(ctx, obj, p, toImport); o.reported() || err != nil {
			return o, err
		}
	}
	backup, err := p.ws.PullState(ctx)
	if err != nil {
		return p.fail("backing up the state", err)
	}
	addrs := keys(toImport)
	for _, addr := range addrs {
		if err := p.ws.Import(ctx, addr, toImport[addr]); err != nil {
			o, err := p.fail("importing "+addr+" (state restored)", err)
			return restore(ctx, p, backup, o, err)
		}
	}
	after, err := p.ws.Plan(ctx, terraform.PlanOptions{})
	if err != nil {
		o, err := p.fail("planning after the import (state restored)", err)
		return restore(ctx, p, backup, o, err)
	}
	s := plan.Summarize(after.Plan)
	obj.Status.Plan = s
	if bad := destructive(s, toImport); len(bad) > 0 {
		return restore(ctx, p, backup, notReady(v1alpha1.ReasonWouldReplace, fmt.Sprintf(
			"%s refused: after importing, Terraform would %s; the state was restored. %s", p.name(), strings.Join(bad, ", "), s.Diff)), nil)
	}
	return adopted(ctx, obj, p, after.Plan, addrs, skipped), nil
}

// partition splits the listed resources into those to import (address →
// id) and those the state already manages with the same id; one it manages
// with another id is an error of the spec.
func partition(obj *v1alpha1.InfraImport, p *pass, managed map[string]string) (map[string]string, []string, error) {
	toImport := map[string]string{}
	var skipped []string
	for i, item := range obj.Spec.Resources {
		switch have, ok := managed[item.Address]; {
		case ok && have == item.ID:
			skipped = append(skipped, item.Address)
		case ok:
			return nil, nil, invalidSpec("%s: spec.resources[%d]: %s already manages %s in Configuration %s, not %s; remove it from the list or from the state first",
				p.name(), i, item.Address, have, p.res.Configuration.Name, item.ID)
		default:
			toImport[item.Address] = item.ID
		}
	}
	return toImport, skipped, nil
}

// precheck plans with import blocks and refuses, with the state untouched,
// an import after which Terraform would replace or delete what it adopted.
func precheck(ctx context.Context, obj *v1alpha1.InfraImport, p *pass, toImport map[string]string) (outcome, error) {
	check, err := p.ws.Plan(ctx, terraform.PlanOptions{Imports: toImport, Out: "import-check.tfplan"})
	if err != nil {
		return p.fail("planning the import ("+describeImports(toImport)+")", err)
	}
	s := plan.Summarize(check.Plan)
	bad := destructive(s, toImport)
	if len(bad) == 0 {
		return outcome{}, nil
	}
	obj.Status.Plan = s
	msg := []string{fmt.Sprintf("%s refused: after importing, Terraform would %s; the state is unchanged. Align the component's properties with the existing resource and retry.",
		p.name(), strings.Join(bad, ", "))}
	for _, more := range []string{plan.SuggestionText(plan.Suggest(check.Plan, keys(toImport))), s.Diff} {
		if more != "" {
			msg = append(msg, more)
		}
	}
	return notReady(v1alpha1.ReasonWouldReplace, strings.Join(msg, " ")), nil
}

// restore puts the backed-up state back after a failed or refused import,
// and reports o and err; when the restore itself fails, it reports that
// instead, loudly: the state may now hold a partial import.
func restore(ctx context.Context, p *pass, backup string, o outcome, err error) (outcome, error) {
	if pushErr := p.ws.PushState(ctx, backup); pushErr != nil {
		return notReady(v1alpha1.ReasonTerraformFailed, fmt.Sprintf(
			"%s: restoring the state after a failed import failed (%v); inspect it with terraform state list", p.name(), pushErr)), nil
	}
	return o, err
}

// adopted is a kept import: its status and message, with the in-place
// changes an apply would make and the properties that would avoid them.
func adopted(ctx context.Context, obj *v1alpha1.InfraImport, p *pass, after *tfjson.Plan, addrs, skipped []string) outcome {
	s := obj.Status.Plan
	obj.Status.Imported = addrs
	obj.Status.Skipped = skipped
	obj.Status.LastRunTime = now()
	msg := fmt.Sprintf("%s adopted %d resource(s) into Configuration %s (%d already there); %s",
		p.name(), len(addrs), p.res.Configuration.Name, len(skipped), footerOf(s))
	if s.Change > 0 || s.Add > 0 {
		msg += " Review the in-place changes before applying."
		if hint := plan.SuggestionText(plan.Suggest(after, addrs)); hint != "" {
			msg += " " + hint
		}
		msg += " " + s.Diff
	}
	log.FromContext(ctx).Info("imported", "configuration", p.res.Configuration.Name, "imported", addrs, "skipped", skipped)
	return succeeded(v1alpha1.ReasonSucceeded, msg,
		condition(v1alpha1.ConditionImported, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, msg))
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
