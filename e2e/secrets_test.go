package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestNoPasswordInStepRunObjects is the report of issue 13: an infra-plan
// step on a MySQL component with a password. The step passes the
// component's variables in the Secret the step-runner names in vela-system
// (vela-core writes it), the plan uses them, and the password is in no
// step-run object, ConfigMap or Event of the application's namespace.
func TestNoPasswordInStepRunObjects(t *testing.T) {
	setup(t)
	const password = "Sentinel-Step-Passw0rd-13"
	up(t, "secret-check", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: secret-check
spec:
  components:
    - name: db
      type: mycloud-mysql
      properties:
        name: secret-check
        subnet_id: subnet-1a2b3c4d
        admin_password: `+password+`
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: db
`)
	eventually(t, 3*time.Minute, "+ mycloud_mysql.this (create)", "status", "secret-check")
	c := typedClient(t, env.Config)
	ctx := context.Background()
	var approval v1alpha1.InfraApproval
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "secret-check-db"}, &approval); err != nil {
		t.Fatal(err)
	}
	const secretName = "tfvars-infraapproval.default.secret-check-db"
	if approval.Status.VariablesSecret != "vela-system/"+secretName || approval.Spec.Target.VariablesFrom != v1alpha1.VariablesFromSecret {
		t.Errorf("variablesFrom %q, status.variablesSecret %q: want Secret, vela-system/%s",
			approval.Spec.Target.VariablesFrom, approval.Status.VariablesSecret, secretName)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "vela-system", Name: secretName}, &secret); err != nil {
		t.Fatalf("the variables Secret: %v", err)
	}
	if !strings.Contains(string(secret.Data["variables"]), password) {
		t.Errorf("the variables Secret lacks the password: %s", secret.Data["variables"])
	}
	lists := map[string]client.ObjectList{
		"InfraApprovals": &v1alpha1.InfraApprovalList{}, "InfraDrifts": &v1alpha1.InfraDriftList{}, "InfraImports": &v1alpha1.InfraImportList{},
		"ConfigMaps": &corev1.ConfigMapList{}, "Events": &corev1.EventList{},
	}
	for what, list := range lists {
		if err := c.List(ctx, list, client.InNamespace("default")); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(list)
		if strings.Contains(string(data), password) {
			t.Errorf("the password is in the %s of namespace default", what)
		}
	}
	if out, err := vela(t, "delete", "-n", "default", "secret-check", "-y"); err != nil {
		t.Errorf("vela delete: %v\n%s", err, out)
	}
}
