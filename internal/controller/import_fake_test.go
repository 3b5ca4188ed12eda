package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// importing is the VPC adopted by an import block, with actions.
func importing(actions tfjson.Actions, before, after string) *tfjson.ResourceChange {
	rc := vpc(actions, before, after)
	rc.Change.Importing = &tfjson.Importing{ID: fakeID}
	return rc
}

func TestFakeImport(t *testing.T) {
	const (
		name = "InfraImport team/adopt"
		full = "; the full Terraform output is in ConfigMap infraimport-adopt-output"
	)
	var (
		adoptable = planReply{plan: planOf(importing(noop, "10.40.0.0/16", "10.40.0.0/16"))}
		empty     = planReply{plan: planOf()}
		replacing = planOf(vpc(replace, "10.40.0.0/16", "10.41.0.0/16"))
		inPlace   = planOf(vpc(update, "10.40.0.0/16", "10.41.0.0/16"))
		pushErr   = &terraform.Error{Op: "state push", Reason: terraform.ReasonFailed, Summary: "push failed"}
		restored  = []string{"state", "plan import-check.tfplan imports=mycloud_vpc.this", "state pull", "import mycloud_vpc.this vpc-legacy01", "state push {\"serial\":1}"}
		imported  = []string{"state", "plan import-check.tfplan imports=mycloud_vpc.this", "state pull", "import mycloud_vpc.this vpc-legacy01", "plan"}
	)
	restoreFailed := name + ": restoring the state after a failed import failed (terraform state push: push failed); inspect it with terraform state list; the step-runner runs it again in 4s, or at once after `vela workflow restart`"
	adopted := func(n, already int, rest string) string {
		return name + " adopted " + itoa(n) + " resource(s) into Configuration network (" + itoa(already) + " already there); " + rest
	}
	cases := map[string]struct {
		resources []v1alpha1.ImportResource
		ws        fakeWorkspace
		want      observed
	}{
		"adopts": {ws: fakeWorkspace{plans: []planReply{adoptable, empty}}, want: observed{
			Calls: imported, Done: true,
			Conditions: readyWith(v1alpha1.ReasonSucceeded, adopted(1, 0, "Plan: 0 to add, 0 to change, 0 to destroy."),
				v1alpha1.ConditionImported, "True Succeeded: "+adopted(1, 0, "Plan: 0 to add, 0 to change, 0 to destroy.")),
		}},
		"in-place changes to review": {ws: fakeWorkspace{plans: []planReply{adoptable, {plan: inPlace}}}, want: observed{
			Calls: imported, Done: true,
			Conditions: readyWith(v1alpha1.ReasonSucceeded, adopted(1, 0, "Plan: 0 to add, 1 to change, 0 to destroy. Review the in-place changes before applying. "+plan.Summarize(inPlace).Diff),
				v1alpha1.ConditionImported, "True Succeeded: "+adopted(1, 0, "Plan: 0 to add, 1 to change, 0 to destroy. Review the in-place changes before applying. "+plan.Summarize(inPlace).Diff)),
		}},
		"already managed with the same id": {ws: fakeWorkspace{state: stateWith(fakeID), plans: []planReply{empty}}, want: observed{
			Calls: []string{"state", "state pull", "plan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonSucceeded, adopted(0, 1, "Plan: 0 to add, 0 to change, 0 to destroy."),
				v1alpha1.ConditionImported, "True Succeeded: "+adopted(0, 1, "Plan: 0 to add, 0 to change, 0 to destroy.")),
		}},
		"already managed with another id": {ws: fakeWorkspace{state: stateWith("vpc-other")}, want: observed{
			Calls: []string{"state"}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec,
				name+": spec.resources[0]: mycloud_vpc.this already manages vpc-other in Configuration network, not vpc-legacy01; remove it from the list or from the state first"),
		}},
		"would replace before the import: refused, state untouched": {ws: fakeWorkspace{plans: []planReply{{plan: planOf(importing(replace, "10.40.0.0/16", "10.41.0.0/16"))}}}, want: observed{
			Calls: []string{"state", "plan import-check.tfplan imports=mycloud_vpc.this"}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonWouldReplace, name+" refused: after importing, Terraform would replace mycloud_vpc.this; the state is unchanged. "+
				"Align the component's properties with the existing resource and retry. "+plan.Summarize(planOf(importing(replace, "10.40.0.0/16", "10.41.0.0/16"))).Diff),
		}},
		"would replace after the import: state restored": {ws: fakeWorkspace{plans: []planReply{adoptable, {plan: replacing}}}, want: observed{
			Calls: append(imported[:len(imported):len(imported)], "state push {\"serial\":1}"), Done: true,
			Conditions: stalledWith(v1alpha1.ReasonWouldReplace, name+" refused: after importing, Terraform would replace mycloud_vpc.this; the state was restored. "+plan.Summarize(replacing).Diff),
		}},
		"would replace after the import, restore fails": {ws: fakeWorkspace{plans: []planReply{adoptable, {plan: replacing}}, pushErr: pushErr}, want: observed{
			Calls: append(imported[:len(imported):len(imported)], "state push {\"serial\":1}"), Result: after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonTerraformFailed, restoreFailed),
		}},
		"import fails: state restored": {ws: fakeWorkspace{plans: []planReply{adoptable}, importErr: map[string]error{fakeAddr: tfErr(terraform.ReasonNotFound, "Cannot import non-existent remote object")}}, want: observed{
			Calls: restored, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonCloudNotFound, name+": importing mycloud_vpc.this (state restored) of Configuration network failed: Cannot import non-existent remote object; check the cloud id"+full),
		}},
		"import fails, restore fails": {ws: fakeWorkspace{plans: []planReply{adoptable}, importErr: map[string]error{fakeAddr: tfErr(terraform.ReasonFailed, "boom")}, pushErr: pushErr}, want: observed{
			Calls: restored, Result: after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonTerraformFailed, restoreFailed),
		}},
		"plan after the import fails: state restored": {ws: fakeWorkspace{plans: []planReply{adoptable, {err: tfErr(terraform.ReasonLockHeld, "lock")}}}, want: observed{
			Calls: append(imported[:len(imported):len(imported)], "state push {\"serial\":1}"), Result: after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, name+": planning after the import (state restored) of Configuration network waits for the state lock, held by another run; retrying"),
		}},
		"the check before the import fails": {ws: fakeWorkspace{plans: []planReply{{err: tfErr(terraform.ReasonUnknownAddress, "Import block target does not exist")}}}, want: observed{
			Calls: []string{"state", "plan import-check.tfplan imports=mycloud_vpc.this"}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidConfiguration, name+": planning the import (mycloud_vpc.this <- vpc-legacy01) of Configuration network failed: Import block target does not exist; fix the component or step parameters"+full),
		}},
		"reading the state fails": {ws: fakeWorkspace{stateErr: tfErr(terraform.ReasonAuth, "HTTP 401")}, want: observed{
			Calls: []string{"state"}, Result: after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonAuthFailed, name+": reading the state of Configuration network failed: the cloud refused the credentials (HTTP 401); fix the Provider's credentials Secret"+full),
		}},
		"backing up the state fails": {ws: fakeWorkspace{plans: []planReply{adoptable}, pullErr: tfErr(terraform.ReasonLockHeld, "lock")}, want: observed{
			Calls: []string{"state", "plan import-check.tfplan imports=mycloud_vpc.this", "state pull"}, Result: after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, name+": backing up the state of Configuration network waits for the state lock, held by another run; retrying"),
		}},
		"address invalid": {resources: []v1alpha1.ImportResource{{Address: "not an address", ID: fakeID}}, want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, name+`: spec.resources[0].address "not an address" is not a Terraform resource address such as mycloud_vpc.this`),
		}},
		"id invalid": {resources: []v1alpha1.ImportResource{{Address: fakeAddr, ID: "vpc legacy"}}, want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, name+`: spec.resources[0].id "vpc legacy" is not a cloud id: it must be 1-256 printable characters without spaces or quotes`),
		}},
		"id with a control character": {resources: []v1alpha1.ImportResource{{Address: fakeAddr, ID: "vpc-\x01"}}, want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, name+`: spec.resources[0].id "vpc-\x01" is not a cloud id: it must be 1-256 printable characters without spaces or quotes`),
		}},
		"address repeated": {resources: []v1alpha1.ImportResource{{Address: fakeAddr, ID: fakeID}, {Address: fakeAddr, ID: "vpc-2"}}, want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, name+": spec.resources[1].address mycloud_vpc.this repeats spec.resources[0]"),
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resources := tc.resources
			if resources == nil {
				resources = []v1alpha1.ImportResource{{Address: fakeAddr, ID: fakeID}}
			}
			obj := &v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "adopt", Generation: 1},
				Spec: v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}, Resources: resources}}
			e := newFakeEnv(t, obj)
			ws := tc.ws
			ws.t, ws.dir = t, e.ws.dir
			*e.ws = ws
			got := e.reconcile(&ImportReconciler{Runtime: e.rt}, obj)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(e.ws.plans) > 0 {
				t.Errorf("%d scripted plan(s) not run", len(e.ws.plans))
			}
		})
	}
}
