package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"

	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeFailurePolicy runs a drift check (one Terraform command) into
// every kind of failure and checks what the failure policy makes of it:
// the conditions, the message, when the object is looked at again, and
// whether a next reconcile runs it again.
func TestFakeFailurePolicy(t *testing.T) {
	const (
		where = "InfraDrift team/check: drift check of Configuration network"
		full  = "; the full Terraform output is in ConfigMap infradrift-check-output"
		// again ends the message of a failure looked at again later.
		again = "; the step-runner runs it again in 4s, or at once after `vela workflow restart`"
		plan  = "plan drift.tfplan -refresh-only"
	)
	spec := func(json string) func(*v1alpha1.InfraDrift) {
		return func(o *v1alpha1.InfraDrift) { o.Spec.Target.Spec = &runtime.RawExtension{Raw: []byte(json)} }
	}
	cases := map[string]struct {
		objs    []client.Object
		drift   func(*v1alpha1.InfraDrift)
		planErr error
		openErr error
		want    observed
	}{
		"lock held": {planErr: tfErr(terraform.ReasonLockHeld, "Error acquiring the state lock"), want: observed{
			Result: after(time.Second), Calls: []string{plan},
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, where+" waits for the state lock, held by another run; retrying"),
		}},
		"throttled": {planErr: tfErr(terraform.ReasonThrottled, "HTTP 429"), want: observed{
			Result: after(time.Second), Calls: []string{plan},
			Conditions: waitingWith(v1alpha1.ReasonThrottled, where+" was throttled by the cloud; retrying"),
		}},
		"interrupted: retried by controller-runtime, status untouched": {
			planErr: &terraform.Error{Op: "plan", Reason: terraform.ReasonInterrupted, Summary: "interrupted: context canceled"},
			want:    observed{Err: "terraform plan: interrupted: context canceled", Calls: []string{plan}, Conditions: conds()},
		},
		"auth": {planErr: tfErr(terraform.ReasonAuth, "HTTP 401 Unauthorized"), want: observed{
			Result: after(4 * time.Second), Calls: []string{plan},
			Conditions: stalledWith(v1alpha1.ReasonAuthFailed, where+" failed: the cloud refused the credentials (HTTP 401 Unauthorized); fix the Provider's credentials Secret"+full),
		}},
		"unreachable: stalled, looked at again, no 'retrying'": {planErr: tfErr(terraform.ReasonUnreachable, "dial tcp 127.0.0.1:1: connect: connection refused"), want: observed{
			Result: after(4 * time.Second), Calls: []string{plan},
			Conditions: stalledWith(v1alpha1.ReasonCloudUnreachable, where+" failed: the cloud could not be reached (dial tcp 127.0.0.1:1: connect: connection refused); check the endpoint in the Provider's credentials and that the cloud is up"+full),
		}},
		"not found": {planErr: tfErr(terraform.ReasonNotFound, "HTTP 404"), want: observed{
			Calls: []string{plan}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonCloudNotFound, where+" failed: HTTP 404; check the cloud id"+full),
		}},
		"invalid configuration": {planErr: tfErr(terraform.ReasonInvalidConfig, "Unsupported argument"), want: observed{
			Calls: []string{plan}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidConfiguration, where+" failed: Unsupported argument; fix the component or step parameters"+full),
		}},
		"invalid input": {planErr: tfErr(terraform.ReasonInvalidInput, "No value for required variable"), want: observed{
			Calls: []string{plan}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidConfiguration, where+" failed: No value for required variable; fix the component or step parameters"+full),
		}},
		"unknown address": {planErr: tfErr(terraform.ReasonUnknownAddress, "Import block target does not exist"), want: observed{
			Calls: []string{plan}, Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidConfiguration, where+" failed: Import block target does not exist; fix the component or step parameters"+full),
		}},
		"provider crashed": {planErr: tfErr(terraform.ReasonProviderCrashed, "Plugin did not respond"), want: observed{
			Result: after(4 * time.Second), Calls: []string{plan},
			Conditions: stalledWith(v1alpha1.ReasonProviderCrashed, where+" failed: the provider crashed (Plugin did not respond)"+full+again),
		}},
		"stale plan": {planErr: tfErr(terraform.ReasonStalePlan, "Saved plan is stale"), want: observed{
			Calls:      []string{plan},
			Conditions: waitingWith(v1alpha1.ReasonPlanChanged, where+" failed: Saved plan is stale; a new plan must be shown and approved"+full),
		}},
		"generic failure": {planErr: tfErr(terraform.ReasonFailed, "something else"), want: observed{
			Result: after(4 * time.Second), Calls: []string{plan},
			Conditions: stalledWith(v1alpha1.ReasonTerraformFailed, where+" failed: something else"+full+again),
		}},
		"a reason the table does not know is a generic failure": {planErr: tfErr("Novel", "new"), want: observed{
			Result: after(4 * time.Second), Calls: []string{plan},
			Conditions: stalledWith(v1alpha1.ReasonTerraformFailed, where+" failed: new"+full+again),
		}},
		"terraform init fails": {openErr: &terraform.Error{Op: "init", Reason: terraform.ReasonInvalidConfig, Summary: "Unclosed configuration block", Output: "init output"}, want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidConfiguration, "InfraDrift team/check: terraform init of Configuration network failed: Unclosed configuration block; fix the component or step parameters"+full),
		}},
		"an error not of Terraform is retried by controller-runtime": {openErr: errors.New("disk full"), want: observed{
			Err: "disk full", Conditions: conds(),
		}},
		"spec invalid": {drift: func(o *v1alpha1.InfraDrift) { o.Spec.Interval = &metav1.Duration{Duration: 10 * time.Second} }, want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, "InfraDrift team/check: spec.interval 10s is shorter than the minimum 30s"),
		}},
		"configuration not found": {drift: func(o *v1alpha1.InfraDrift) { o.Spec.Target.ConfigurationName = "later" }, want: observed{
			Result:     after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonConfigurationNotFound, "Configuration team/later does not exist: deploy the component first, or pass its rendered spec in spec.target.spec"),
		}},
		"spec.target.spec not a Configuration spec": {drift: spec(`{"hcl": "x", "colour": "red"}`), want: observed{
			Done:       true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, `spec.target.spec is not a terraform-controller Configuration spec: json: unknown field "colour"`),
		}},
		"provider not found": {drift: spec(`{"hcl": "resource \"mycloud_vpc\" \"this\" {}", "providerRef": {"namespace": "team", "name": "nope"}}`), want: observed{
			Result:     after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonProviderNotFound, "Configuration team/network refers to Provider team/nope, which does not exist: enable the provider's addon or fix spec.providerRef"),
		}},
		"credentials unreadable": {
			objs: []client.Object{&tfv1beta1.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "nokeys"}, Spec: tfv1beta1.ProviderSpec{
				Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{Source: crossplane.CredentialsSourceSecret,
					SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: fakeNS, Name: "gone"}, Key: "credentials"}},
			}}},
			drift: spec(`{"hcl": "resource \"mycloud_vpc\" \"this\" {}", "providerRef": {"namespace": "team", "name": "nokeys"}}`),
			want: observed{
				Result:     after(4 * time.Second),
				Conditions: stalledWith(v1alpha1.ReasonCredentialsInvalid, `credentials of Provider team/nokeys cannot be read: failed to get the Secret from Provider: secrets "gone" not found; check its Secret`),
			},
		},
		"terraform-controller applies the target": {
			objs: []client.Object{&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "network-apply-x1", Labels: map[string]string{"batch.kubernetes.io/job-name": "network-apply"}},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning},
			}},
			want: observed{
				Result:     after(time.Second),
				Conditions: waitingWith(v1alpha1.ReasonWaitingForApply, "InfraDrift team/check waits for terraform-controller's running apply Job network-apply of Configuration network"),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			if tc.drift != nil {
				tc.drift(obj)
			}
			e := newFakeEnv(t, append(tc.objs, obj)...)
			if tc.planErr != nil {
				e.ws.plans = []planReply{{err: tc.planErr}}
			}
			e.opener.err = tc.openErr
			got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestFakeFailureOutputIsKept: the output of a failed run, terraform init
// included, is kept in the object's ConfigMap, named after its kind.
func TestFakeFailureOutputIsKept(t *testing.T) {
	for name, tc := range map[string]struct {
		openErr, planErr error
		want             string
	}{
		"init":  {openErr: &terraform.Error{Op: "init", Reason: terraform.ReasonFailed, Summary: "x", Output: "init output"}, want: "init output"},
		"check": {planErr: tfErr(terraform.ReasonFailed, "x"), want: "$ terraform plan drift.tfplan -refresh-only"},
	} {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check"},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			e := newFakeEnv(t, obj)
			e.opener.err = tc.openErr
			if tc.planErr != nil {
				e.ws.plans = []planReply{{err: tc.planErr}}
			}
			e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if got := e.output("infradrift-check-output"); got != tc.want {
				t.Errorf("kept output %q, want %q", got, tc.want)
			}
			if ref := obj.Status.OutputRef; ref == nil || ref.ConfigMap != "infradrift-check-output" {
				t.Errorf("outputRef %+v", ref)
			}
		})
	}
}

// TestFakePolicyCoversEveryReason: every reason a run can end not ready
// for has its entry in the failure policy (a missing one would be
// treated as a generic failure).
func TestFakePolicyCoversEveryReason(t *testing.T) {
	reasons := []string{
		v1alpha1.ReasonInvalidSpec, v1alpha1.ReasonConfigurationNotFound, v1alpha1.ReasonProviderNotFound,
		v1alpha1.ReasonCredentialsInvalid, v1alpha1.ReasonInvalidConfiguration, v1alpha1.ReasonWaitingForApply,
		v1alpha1.ReasonWouldReplace, v1alpha1.ReasonAwaitingApproval, v1alpha1.ReasonPlanChanged,
	}
	for _, f := range terraformFailures {
		reasons = append(reasons, f.reason)
	}
	for _, r := range reasons {
		if _, ok := policies[r]; !ok {
			t.Errorf("reason %s has no failure policy", r)
		}
	}
}
