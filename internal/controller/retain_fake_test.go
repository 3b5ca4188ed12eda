package controller

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeRetain: adopted and shared Configurations get deleteResource
// false with the reason; one no longer shared gets it back; an explicit
// choice of the application and an unserved namespace are left alone.
func TestFakeRetain(t *testing.T) {
	owner := func(annotations map[string]string, deleteResource bool) *tfv1beta2.Configuration {
		c := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "network", Annotations: annotations},
			Spec: tfv1beta2.ConfigurationSpec{DeleteResource: ptrTo(deleteResource)}}
		c.Status.Apply.Outputs = map[string]tfv1beta2.Property{"id": {Value: "vpc-legacy01"}, "cidr": {Value: "10.40.0.0/16"}}
		return c
	}
	consumer := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "checkout-subnet",
		Labels: map[string]string{"app.oam.dev/name": "checkout", "app.oam.dev/component": "subnet"}},
		Spec: tfv1beta2.ConfigurationSpec{Variable: &runtime.RawExtension{Raw: []byte(`{"vpc_id":"vpc-legacy01","cidr":"10.40.0.0/16"}`)}}}
	// A cidr equal to the owner's output is no reference: only ids are.
	sameCIDR := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "other"},
		Spec: tfv1beta2.ConfigurationSpec{Variable: &runtime.RawExtension{Raw: []byte(`{"cidr":"10.40.0.0/16"}`)}}}
	imported := &v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "adopt"}, Spec: v1alpha1.InfraImportSpec{
		Target:    v1alpha1.Target{ConfigurationName: "network"},
		Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.this", ID: "vpc-legacy01"}, {Address: "mycloud_vpc.other", ID: "vpc-2"}}},
		Status: v1alpha1.InfraImportStatus{Imported: []string{"mycloud_vpc.this"}}}
	type want struct {
		deleteResource bool
		annotations    map[string]string
		events         []string
	}
	for name, tc := range map[string]struct {
		objs       []client.Object
		namespaces []string
		want       want
	}{
		"adopted": {objs: []client.Object{owner(nil, true), imported}, want: want{
			annotations: map[string]string{annotationAdopted: "mycloud_vpc.this=vpc-legacy01",
				annotationRetained: "it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)"},
			events: []string{"Normal Retained Configuration platform/network is kept in the cloud when it is deleted (deleteResource false): it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)"},
		}},
		"adopted, the InfraImport gone: the record stays": {
			objs: []client.Object{owner(map[string]string{annotationAdopted: "mycloud_vpc.this=vpc-legacy01",
				annotationRetained: "it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)"}, false)},
			want: want{annotations: map[string]string{annotationAdopted: "mycloud_vpc.this=vpc-legacy01",
				annotationRetained: "it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)"}},
		},
		"shared": {objs: []client.Object{owner(nil, true), consumer, sameCIDR}, want: want{
			annotations: map[string]string{annotationRetained: "other Configurations use its resources: team-a/checkout (component subnet)"},
			events:      []string{"Normal Retained Configuration platform/network is kept in the cloud when it is deleted (deleteResource false): other Configurations use its resources: team-a/checkout (component subnet)"},
		}},
		"no longer shared": {objs: []client.Object{owner(map[string]string{annotationRetained: "other Configurations use its resources: x"}, false), sameCIDR}, want: want{
			deleteResource: true, annotations: map[string]string{},
			events: []string{"Normal NoLongerRetained Configuration platform/network is no longer adopted or used by others: deleting it destroys its cloud resources again (deleteResource true)"},
		}},
		"the application chose": {objs: []client.Object{owner(map[string]string{annotationDeleteResource: "true"}, true), consumer, imported}, want: want{
			deleteResource: true, annotations: map[string]string{annotationDeleteResource: "true"},
		}},
		"not a served namespace": {namespaces: []string{"team-a"}, objs: []client.Object{owner(nil, true), consumer}, want: want{
			deleteResource: true,
		}},
		"a reference component reads the id, it does not own it": {objs: []client.Object{func() client.Object {
			ref := owner(nil, true)
			ref.Spec.Variable = &runtime.RawExtension{Raw: []byte(`{"id":"vpc-legacy01"}`)}
			return ref
		}(), consumer}, want: want{deleteResource: true}},
		"nothing to keep": {objs: []client.Object{owner(nil, true), sameCIDR}, want: want{deleteResource: true}},
	} {
		t.Run(name, func(t *testing.T) {
			scheme, err := Scheme()
			if err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.objs...).Build()
			rec := record.NewFakeRecorder(8)
			r := &RetainReconciler{Client: c, Recorder: rec, Namespaces: tc.namespaces}
			key := types.NamespacedName{Namespace: "platform", Name: "network"}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
				t.Fatal(err)
			}
			var got tfv1beta2.Configuration
			if err := c.Get(context.Background(), key, &got); err != nil {
				t.Fatal(err)
			}
			g := want{deleteResource: *got.Spec.DeleteResource, annotations: got.Annotations}
			for len(rec.Events) > 0 {
				g.events = append(g.events, <-rec.Events)
			}
			if len(g.annotations) == 0 && len(tc.want.annotations) == 0 {
				g.annotations = tc.want.annotations
			}
			if diff := cmp.Diff(tc.want, g, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// A second pass changes nothing.
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
				t.Fatal(err)
			}
			if len(rec.Events) > 0 {
				t.Errorf("a second pass recorded %s", <-rec.Events)
			}
		})
	}
}

// TestFakeRetainUsedBy: a change of a consumer looks again at what it uses.
func TestFakeRetainUsedBy(t *testing.T) {
	scheme, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	owner := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "network"}}
	owner.Status.Apply.Outputs = map[string]tfv1beta2.Property{"id": {Value: "vpc-legacy01"}}
	consumer := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "ref"},
		Spec: tfv1beta2.ConfigurationSpec{HCL: `data "mycloud_vpc" "v" { id = "vpc-legacy01" }`}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(owner, consumer).Build()
	r := &RetainReconciler{Client: c}
	got := r.usedBy(context.Background(), consumer)
	want := []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "platform", Name: "network"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
