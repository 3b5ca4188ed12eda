package controller_test

import (
	"context"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFailedRunOfAnUndeployedComponentLeavesNoState: an import of a
// component that is not deployed yet, of an id the cloud does not have,
// fails; the state Secret and lock Lease that Terraform's kubernetes backend
// created for it on the way are not left behind.
func TestFailedRunOfAnUndeployedComponentLeavesNoState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	obj := &v1alpha1.InfraImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "adopt-missing"},
		Spec: v1alpha1.InfraImportSpec{
			Target:    v1alpha1.Target{ConfigurationName: "ghost", Spec: raw(t, f.configurationSpec("vpc", vpcVars("10.40.0.0/16")))},
			Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.this", ID: "vpc-missing01"}},
		},
	}
	f.create(obj)
	await(f, obj, "import failed", func(o *v1alpha1.InfraImport) bool { return stalledWith(v1alpha1.ReasonCloudNotFound)(o) })
	for _, o := range []client.Object{&corev1.Secret{}, &coordinationv1.Lease{}} {
		name := "tfstate-default-ghost"
		if _, lease := o.(*coordinationv1.Lease); lease {
			name = "lock-" + name
		}
		if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: name}, o); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s/%s after the failed import: %v, want it deleted", o, f.ns, name, err)
		}
	}
}
