package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
)

// tfConfig is a Configuration of component comp of application app (in the
// Configuration's namespace) with variables vars and output id.
func tfConfig(ns, name, app, vars, id string) *tfv1beta2.Configuration {
	c := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels: map[string]string{labelAppName: app, labelAppNamespace: ns, "app.oam.dev/component": name}},
		Spec: tfv1beta2.ConfigurationSpec{Variable: &runtime.RawExtension{Raw: []byte(vars)}}}
	if id != "" {
		c.Status.Apply.Outputs = map[string]tfv1beta2.Property{"id": {Value: id}}
	}
	return c
}

// deleteRequest is the admission request of user deleting obj.
func deleteRequest(t *testing.T, user string, kind metav1.GroupVersionKind, resource string, obj any) admission.Request {
	t.Helper()
	raw, ok := obj.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(obj); err != nil {
			t.Fatal(err)
		}
	}
	var meta struct {
		metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &meta)
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Delete, Kind: kind, Namespace: meta.Namespace, Name: meta.Name,
		Resource:  metav1.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: resource},
		UserInfo:  authenticationv1.UserInfo{Username: user},
		OldObject: runtime.RawExtension{Raw: raw},
	}}
}

var (
	applicationKind   = metav1.GroupVersionKind{Group: "core.oam.dev", Version: "v1beta1", Kind: "Application"}
	configurationKind = metav1.GroupVersionKind{Group: "terraform.core.oam.dev", Version: "v1beta2", Kind: "Configuration"}
)

// app is an Application as the API server sends it on delete.
func app(ns, name string, annotations map[string]string, finalizers []string, policies string) map[string]any {
	spec := map[string]any{"components": []any{map[string]any{"name": "cache", "type": "mycloud-redis"}}}
	if policies != "" {
		var p any
		if err := json.Unmarshal([]byte(policies), &p); err != nil {
			panic(err)
		}
		spec["policies"] = p
	}
	return map[string]any{"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
		"metadata": map[string]any{"namespace": ns, "name": name, "annotations": annotations, "finalizers": finalizers}, "spec": spec}
}

// TestDeletions: deleting the owner of a Redis two other applications use
// is refused naming both and what to do; the overrides, the workflow
// engine, the cluster's controllers, a namespace not served and a consumer
// of the application itself pass; bad input is refused as such.
func TestDeletions(t *testing.T) {
	const (
		person = "alice"
		engine = "system:serviceaccount:vela-system:kubevela-vela-core"
	)
	owner := tfConfig("default", "cache", "shared-cache", `{"name":"shared-cache","subnet_id":"subnet-1"}`, "redis-1")
	checkout := tfConfig("team-a", "checkout-cache", "checkout", `{"id":"redis-1"}`, "")
	search := tfConfig("team-b", "search-cache", "search", `{"id":"redis-1"}`, "")
	leaving := search.DeepCopy()
	leaving.Finalizers = []string{"configuration.finalizers.terraform-controller"}
	now := metav1.Now()
	leaving.DeletionTimestamp = &now
	explicitOwner := owner.DeepCopy()
	explicitOwner.Annotations = map[string]string{controller.AnnotationDeleteResource: "true"}
	forcedOwner := owner.DeepCopy()
	forcedOwner.Annotations = map[string]string{AnnotationDeleteWithConsumers: "true"}
	// An application whose subnet uses its own VPC: nobody else.
	network := tfConfig("default", "network", "platform", `{"cidr":"10.0.0.0/16"}`, "vpc-1")
	subnet := tfConfig("default", "app-subnet", "platform", `{"vpc_id":"vpc-1"}`, "subnet-1")
	elsewhere := tfConfig("other", "cache", "shared-cache", `{}`, "redis-1")

	users := []client.Object{owner, checkout, search, network, subnet}
	for name, tc := range map[string]struct {
		objs []client.Object
		// listFails: the API server cannot list Configurations.
		listFails bool
		req       func(t *testing.T) admission.Request
		// denied: the refusal names these; none: allowed.
		denied []string
		code   int32
	}{
		"vela delete of the owner while two consumers remain": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
			},
			denied: []string{"application default/shared-cache is not deleted: Configuration default/cache (component cache) is used by " +
				"team-a/checkout (component checkout-cache): redis-1 in variable id; team-b/search (component search-cache): redis-1 in variable id; nothing was deleted",
				"Delete those applications or point them at another resource first",
				"`vela delete shared-cache -n default --orphan`",
				"`kubectl annotate application shared-cache -n default infra.vela-infra.io/delete-with-consumers=true`",
				"deleteResource property"},
		},
		"the last consumer is going": {
			objs: []client.Object{owner, leaving},
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
			},
		},
		"forced by the annotation": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications",
					app("default", "shared-cache", map[string]string{AnnotationDeleteWithConsumers: "true"}, nil, ""))
			},
		},
		"the annotation must say true": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications",
					app("default", "shared-cache", map[string]string{AnnotationDeleteWithConsumers: "yes"}, nil, ""))
			},
			denied: []string{"is not deleted"},
		},
		"vela delete --orphan keeps the Configurations": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications",
					app("default", "shared-cache", nil, []string{"app.oam.dev/resource-tracker-finalizer", finalizerOrphan}, ""))
			},
		},
		"deleteResource set by the application": {
			objs: []client.Object{explicitOwner, checkout},
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
			},
		},
		"a garbage-collect policy keeps the component": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil,
					`[{"name":"keep","type":"garbage-collect","properties":{"rules":[{"selector":{"componentNames":["cache"]},"strategy":"never"}]}}]`))
			},
		},
		"a garbage-collect policy for another component": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil,
					`[{"name":"keep","type":"garbage-collect","properties":{"rules":[{"selector":{"componentNames":["other"]},"strategy":"never"}]}}]`))
			},
			denied: []string{"team-a/checkout"},
		},
		"used only by the application itself": {
			objs: []client.Object{network, subnet},
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "platform", nil, nil, ""))
			},
		},
		"used by another application, the platform's subnet is": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "platform", nil, nil, ""))
			},
			denied: []string{"Configuration default/app-subnet (component app-subnet) is used by default/shared-cache (component cache): subnet-1 in variable subnet_id"},
		},
		"a namespace the step-runner does not serve": {
			objs: append([]client.Object{elsewhere}, users...),
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("other", "shared-cache", nil, nil, ""))
			},
		},
		"the cluster's namespace controller": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, "system:serviceaccount:kube-system:namespace-controller", applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
			},
		},
		"kubectl delete configuration of the owner": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, configurationKind, "configurations", owner)
			},
			denied: []string{"Configuration default/cache is not deleted: Configuration default/cache (component cache) is used by team-a/checkout (component checkout-cache): redis-1 in variable id; team-b/search",
				"`kubectl annotate configuration cache -n default infra.vela-infra.io/delete-with-consumers=true`",
				"application shared-cache renders it"},
		},
		"kubectl delete configuration, forced": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, configurationKind, "configurations", forcedOwner)
			},
		},
		"vela-core's garbage collection of the Configuration": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, engine, configurationKind, "configurations", owner)
			},
		},
		"a consumer's Configuration": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				r := deleteRequest(t, person, configurationKind, "configurations", checkout)
				r.Namespace = "default" // as if team-a were served
				return r
			},
		},
		"bad input: not JSON": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				r := deleteRequest(t, person, applicationKind, "applications", []byte(`{"metadata":`))
				r.Namespace, r.Name = "default", "shared-cache"
				return r
			},
			code: http.StatusBadRequest,
		},
		"bad input: a policy that is not one": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil,
					`[{"type":"garbage-collect","properties":{"rules":"never"}}]`))
			},
			code: http.StatusBadRequest,
		},
		"bad input: no old object": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				r := deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
				r.OldObject.Raw = nil
				return r
			},
		},
		"the Configurations cannot be listed: let through, warned": {
			listFails: true,
			req: func(t *testing.T) admission.Request {
				return deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
			},
		},
		"not a delete": {
			objs: users,
			req: func(t *testing.T) admission.Request {
				r := deleteRequest(t, person, applicationKind, "applications", app("default", "shared-cache", nil, nil, ""))
				r.Operation = admissionv1.Update
				return r
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(tc.objs...)
			if tc.listFails {
				b = b.WithInterceptorFuncs(interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
					return errors.New("connection refused")
				}})
			}
			d := &Deletions{Reader: b.Build(), Namespaces: []string{"default"}, WorkflowEngines: []string{engine}}
			resp := d.Handle(context.Background(), tc.req(t))
			msg := ""
			if resp.Result != nil {
				msg = resp.Result.Message
			}
			switch {
			case tc.code != 0:
				if resp.Allowed || resp.Result.Code != tc.code {
					t.Fatalf("want refused with code %d, got allowed=%v %v", tc.code, resp.Allowed, resp.Result)
				}
			case tc.denied == nil:
				if !resp.Allowed {
					t.Fatalf("want allowed, refused: %s", msg)
				}
				if tc.listFails && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "connection refused")) {
					t.Errorf("a delete let through unchecked: want a warning with the reason, got %q", resp.Warnings)
				}
			default:
				if resp.Allowed {
					t.Fatalf("want refused, allowed (%s)", msg)
				}
				for _, want := range tc.denied {
					if !strings.Contains(msg, want) {
						t.Errorf("the refusal lacks %q:\n%s", want, msg)
					}
				}
			}
		})
	}
}
