package controller

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeConsumersAreNamedInTheReview: a plan that replaces or changes a
// resource other Configurations refer to (in any namespace, by a variable
// or in their HCL) lists them in status.consumers and in the message; a
// Configuration that refers to something else, and one being deleted, are
// not consumers.
func TestFakeConsumersAreNamedInTheReview(t *testing.T) {
	consumer := func(ns, name, app, component, vars, hcl string) *tfv1beta2.Configuration {
		c := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: tfv1beta2.ConfigurationSpec{HCL: hcl}}
		if app != "" {
			c.Labels = map[string]string{"app.oam.dev/name": app, "app.oam.dev/component": component}
		}
		if vars != "" {
			c.Spec.Variable = &runtime.RawExtension{Raw: []byte(vars)}
		}
		return c
	}
	gone := consumer("team-c", "old", "", "", `{"vpc_id":"`+fakeID+`"}`, "")
	now := metav1.Now()
	gone.DeletionTimestamp, gone.Finalizers = &now, []string{"keep"}
	objs := []*tfv1beta2.Configuration{
		consumer("team-a", "checkout-subnet", "checkout", "subnet", `{"vpc_id":"`+fakeID+`","cidr":"10.40.1.0/24"}`, ""),
		consumer("team-b", "search-net", "", "", "", `data "mycloud_vpc" "shared" { id = "`+fakeID+`" }`),
		consumer("team-b", "unrelated", "search", "db", `{"subnet_id":"subnet-other"}`, ""),
		gone,
	}
	for name, tc := range map[string]struct {
		plan *planReply
		want []v1alpha1.Consumer
		msg  []string
	}{
		"replaced": {
			plan: &planReply{plan: planOf(vpc(replace, "10.40.0.0/16", "10.41.0.0/16")), changes: true},
			want: []v1alpha1.Consumer{
				{Namespace: "team-a", Configuration: "checkout-subnet", Application: "checkout", Component: "subnet", Breaks: true,
					Impacts: []string{"mycloud_vpc.this (vpc-legacy01) is replaced: its id changes; used by variable vpc_id"}},
				{Namespace: "team-b", Configuration: "search-net", Breaks: true,
					Impacts: []string{"mycloud_vpc.this (vpc-legacy01) is replaced: its id changes; used by its HCL"}},
			},
			msg: []string{"Shared: 2 other Configuration(s) use what this plan changes, 2 of them lose a resource they refer to:",
				"  - team-a/checkout (component subnet): mycloud_vpc.this (vpc-legacy01) is replaced",
				"  - Configuration team-b/search-net: mycloud_vpc.this (vpc-legacy01) is replaced"},
		},
		"changed in place": {
			plan: &planReply{plan: planOf(vpc(update, "10.40.0.0/16", "10.41.0.0/16")), changes: true},
			want: []v1alpha1.Consumer{
				{Namespace: "team-a", Configuration: "checkout-subnet", Application: "checkout", Component: "subnet",
					Impacts: []string{"mycloud_vpc.this (vpc-legacy01) changes in place (cidr); used by variable vpc_id"}},
				{Namespace: "team-b", Configuration: "search-net",
					Impacts: []string{"mycloud_vpc.this (vpc-legacy01) changes in place (cidr); used by its HCL"}},
			},
			msg: []string{"Shared: 2 other Configuration(s) use what this plan changes:"},
		},
		"created: nobody can use it yet": {
			plan: &planReply{plan: planOf(vpc(create, "", "10.40.0.0/16")), changes: true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "approve", Generation: 1},
				Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			e := newFakeEnv(t, obj, objs[0], objs[1], objs[2], objs[3])
			e.ws.plans = []planReply{*tc.plan}
			got := e.reconcile(&ApprovalReconciler{Runtime: e.rt, PlanNamespace: "vela-system"}, obj)
			if diff := cmp.Diff(tc.want, obj.Status.Consumers); diff != "" {
				t.Errorf("status.consumers (-want +got):\n%s", diff)
			}
			msg := got.Conditions[v1alpha1.ConditionReady]
			for _, want := range tc.msg {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if tc.msg == nil && strings.Contains(msg, "Shared:") {
				t.Errorf("message names consumers:\n%s", msg)
			}
		})
	}
}

// TestConsumersMessageIsCapped: many consumers are counted, not listed.
func TestConsumersMessageIsCapped(t *testing.T) {
	var cs []v1alpha1.Consumer
	for i := 0; i < 8; i++ {
		cs = append(cs, v1alpha1.Consumer{Namespace: "team", Configuration: string(rune('a' + i)), Impacts: []string{"x"}})
	}
	msg := consumersMessage(cs)
	if n := strings.Count(msg, "\n  - "); n != maxConsumersShown {
		t.Errorf("%d consumers listed, want %d:\n%s", n, maxConsumersShown, msg)
	}
	if !strings.Contains(msg, "… and 3 more (status.consumers)") {
		t.Errorf("message does not count the rest:\n%s", msg)
	}
}

// TestFakeImportOfAResourceOwnedElsewhere: importing an id another
// Configuration owns (its output id) is refused, naming the owner; a
// reference that only holds the id is no owner.
func TestFakeImportOfAResourceOwnedElsewhere(t *testing.T) {
	owner := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "network",
		Labels: map[string]string{"app.oam.dev/name": "platform", "app.oam.dev/component": "network"}}}
	owner.Status.Apply.Outputs = map[string]tfv1beta2.Property{"id": {Value: fakeID}}
	ref := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "net-ref"},
		Spec: tfv1beta2.ConfigurationSpec{Variable: &runtime.RawExtension{Raw: []byte(`{"id":"` + fakeID + `"}`)}}}
	ref.Status.Apply.Outputs = map[string]tfv1beta2.Property{"id": {Value: fakeID}}
	obj := &v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "adopt", Generation: 1},
		Spec: v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg},
			Resources: []v1alpha1.ImportResource{{Address: fakeAddr, ID: fakeID}}}}
	e := newFakeEnv(t, obj, owner, ref)
	got := e.reconcile(&ImportReconciler{Runtime: e.rt}, obj)
	msg := "InfraImport team/adopt: spec.resources[0].id vpc-legacy01 is already managed by platform/platform (component network): two owners would each change and destroy it; use it without owning it with a reference component (mycloud-*-ref, property id)"
	if diff := cmp.Diff(stalledWith(v1alpha1.ReasonInvalidSpec, msg), got.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if len(got.Calls) != 0 {
		t.Errorf("Terraform ran: %v", got.Calls)
	}
}
