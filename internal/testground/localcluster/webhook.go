package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// vela-core's admission webhooks run as in a default KubeVela install. The
// chart's default (admissionWebhooks.patch.enabled) renders every webhook
// with failurePolicy Ignore, so that helm can create the chart's own
// definitions before vela-core serves, and leaves the certificate to two
// hook Jobs running kube-webhook-certgen: before the install, one writes the
// serving certificate into the Secret the Deployment mounts; after it, the
// other puts its CA into every webhook's caBundle and sets failurePolicy to
// admissionWebhooks.failurePolicy (Fail). Their image cannot be pulled here,
// so helm runs with --no-hooks and this file does what the two Jobs do, with
// a certificate signed by the cluster CA (pki.go).
const (
	velaNamespace = "vela-system"
	// velaCoreRelease is the helm release; the chart derives the names
	// below from it and the chart name vela-core.
	velaCoreRelease = "kubevela"
	// webhookSecret is the Secret the vela-core Deployment mounts at
	// admissionWebhooks.certificate.mountPath (tls.crt, tls.key; ca as
	// kube-webhook-certgen writes it).
	webhookSecret = "kubevela-vela-core-admission"
	// webhookConfiguration names both the Validating- and the
	// MutatingWebhookConfiguration.
	webhookConfiguration = "kubevela-vela-core-admission"
	// webhookService is the Service the webhooks call (port 443).
	webhookService = "vela-core-webhook"
)

// webhookDNSNames are the names of the webhook Service; kube-apiserver
// checks the certificate for <service>.<namespace>.svc.
var webhookDNSNames = []string{
	webhookService,
	webhookService + "." + velaNamespace,
	webhookService + "." + velaNamespace + ".svc",
	webhookService + "." + velaNamespace + ".svc.cluster.local",
}

// writeWebhookSecret creates vela-system and the Secret with vela-core's
// serving certificate (pki/vela-core-webhook.crt, signed by the cluster CA),
// or updates it when the files changed: what the chart's pre-install Job
// does.
func (c *Cluster) writeWebhookSecret(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	data := map[string][]byte{}
	for key, file := range map[string]string{"tls.crt": "vela-core-webhook.crt", "tls.key": "vela-core-webhook.key", "ca": "ca.crt"} {
		if data[key], err = os.ReadFile(c.pki(file)); err != nil {
			return err
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: velaNamespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", velaNamespace, err)
	}
	secrets := cs.CoreV1().Secrets(velaNamespace)
	s, err := secrets.Get(ctx, webhookSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: webhookSecret, Namespace: velaNamespace}, Type: corev1.SecretTypeOpaque, Data: data}
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", velaNamespace, webhookSecret, err)
		}
		c.phase("Secret %s/%s: vela-core's webhook certificate for %s, signed by the cluster CA", velaNamespace, webhookSecret, webhookDNSNames[2])
		return nil
	case err != nil:
		return err
	}
	same := true
	for k, v := range data {
		same = same && bytes.Equal(s.Data[k], v)
	}
	if same {
		return nil
	}
	s.Data = data
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating Secret %s/%s: %w", velaNamespace, webhookSecret, err)
	}
	c.phase("Secret %s/%s updated from .cluster/pki", velaNamespace, webhookSecret)
	return nil
}

// patchWebhooks puts the cluster CA into the caBundle of every webhook of
// vela-core's two webhook configurations and sets their failurePolicy to
// Fail: what the chart's post-install Job does. Run after every helm
// upgrade, which renders them again with failurePolicy Ignore and (for the
// WorkflowStepDefinition webhook) an empty caBundle.
func (c *Cluster) patchWebhooks(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return err
	}
	fail := admissionv1.Fail
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, webhookConfiguration, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig.CABundle, v.Webhooks[i].FailurePolicy = ca, &fail
		}
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("ValidatingWebhookConfiguration %s: %w", webhookConfiguration, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookConfiguration, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range m.Webhooks {
			m.Webhooks[i].ClientConfig.CABundle, m.Webhooks[i].FailurePolicy = ca, &fail
		}
		_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("MutatingWebhookConfiguration %s: %w", webhookConfiguration, err)
	}
	return nil
}

// applicationGVR is KubeVela's Application.
var applicationGVR = schema.GroupVersionResource{Group: "core.oam.dev", Version: "v1beta1", Resource: "applications"}

// waitWebhook waits until kube-apiserver, on the host, reaches vela-core's
// validating webhook through the Service (kube-proxy's rules on the host)
// and the webhook rejects an Application: a server-side dry run of one whose
// component type does not exist. Anything else (the webhook unreachable, a
// certificate error, the Application admitted) is retried, and named when
// the timeout passes.
func (c *Cluster) waitWebhook(ctx context.Context, timeout time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": "webhook-probe", "namespace": "default"},
		"spec": map[string]any{"components": []any{map[string]any{
			"name": "probe", "type": "vela-infra-no-such-type", "properties": map[string]any{},
		}}},
	}}
	const denied = `admission webhook "validating.core.oam.dev.v1beta1.applications" denied the request`
	last := "no answer yet"
	err = poll(ctx, timeout, "vela-core's admission webhook to reject an Application", func() (bool, error) {
		_, err := dyn.Resource(applicationGVR).Namespace("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err == nil:
			last = "an Application with an unknown component type was admitted"
		case strings.Contains(err.Error(), denied):
			return true, nil
		default:
			last = err.Error()
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%w: last: %s (see kubectl -n %s logs deploy/kubevela-vela-core, .cluster/logs/kube-apiserver.log, kube-proxy.log)", err, last, velaNamespace)
	}
	return nil
}
