package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

func bucketsHCL(prefix string, n int) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
resource "mycloud_bucket" "b" {
  count = %d
  name  = "%s-${count.index}"
}
`, n, prefix)
}

func (b *bench) configuration(name, hcl string) error {
	return b.c.Create(context.Background(), &tfv1beta2.Configuration{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: tfv1beta2.ConfigurationSpec{HCL: hcl, ProviderReference: &crossplane.Reference{Name: "mycloud", Namespace: "default"},
			Variable: &runtime.RawExtension{Raw: []byte("{}")}},
	})
}

// provision creates a Configuration of n buckets and applies it through an
// approved InfraApproval, so the state exists.
func (b *bench) provision(name string, n int) error {
	if err := b.configuration(name, bucketsHCL(name, n)); err != nil {
		return err
	}
	a := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: name}}}
	if err := b.c.Create(context.Background(), a); err != nil {
		return err
	}
	if err := b.waitFor(a, 5*time.Minute, func() bool { return reason(&a.Status.RunStatus) == v1alpha1.ReasonAwaitingApproval }); err != nil {
		return err
	}
	patch := client.MergeFrom(a.DeepCopy())
	a.Spec.Approval = &v1alpha1.Approval{PlanID: a.Status.Plan.ID, By: "bench"}
	if err := b.c.Patch(context.Background(), a, patch); err != nil {
		return err
	}
	return b.waitFor(a, 10*time.Minute, func() bool { return reason(&a.Status.RunStatus) == v1alpha1.ReasonApplied })
}

func reason(rs *v1alpha1.RunStatus) string {
	if cond := apimeta.FindStatusCondition(rs.Conditions, v1alpha1.ConditionReady); cond != nil {
		return cond.Reason
	}
	return ""
}

// waitFor watches obj until cond holds. A watch, not polling: four
// concurrent pollers would load the API server the step-runner shares and
// add their poll interval to every figure.
func (b *bench) waitFor(obj client.Object, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var list client.ObjectList
	switch obj.(type) {
	case *v1alpha1.InfraApproval:
		list = &v1alpha1.InfraApprovalList{}
	case *v1alpha1.InfraDiscovery:
		list = &v1alpha1.InfraDiscoveryList{}
	default: // InfraDrifts: expectDrift
		return fmt.Errorf("waitFor: no list type for %T", obj)
	}
	w, err := b.c.Watch(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{"metadata.name": obj.GetName()})
	if err != nil {
		return err
	}
	defer w.Stop()
	if err := b.c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err == nil && cond() {
		return nil
	}
	for ev := range w.ResultChan() {
		got, ok := ev.Object.(client.Object)
		if !ok || ev.Type == watch.Error {
			continue
		}
		data, err := json.Marshal(got)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, obj); err != nil {
			return err
		}
		if cond() {
			return nil
		}
	}
	data, _ := json.Marshal(obj)
	return fmt.Errorf("timed out: %s\nstep-runner log:\n%s", data, b.stack.LogTail("step-runner", 2000))
}
