package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Platform is what runs in the cluster before the addons: vela-core and
// terraform-controller, installed with helm from the charts in their Go
// modules, from the images hack/images built.
type Platform struct {
	Helm string
	// VelaCoreChart and TerraformControllerChart are chart directories.
	VelaCoreChart, TerraformControllerChart string
	// Versions are the image tags (the tools' versions).
	VelaCoreVersion, TerraformControllerVersion, TerraformVersion string
}

// Install installs or upgrades vela-core and terraform-controller in
// vela-system and waits until both Deployments are available.
func (c *Cluster) Install(ctx context.Context, p Platform) error {
	releases := []struct {
		name, chart, deployment string
		values                  []string
	}{{
		name: "terraform-controller", chart: p.TerraformControllerChart, deployment: "terraform-controller",
		values: []string{
			"image.repository=vela-infra/terraform-controller", "image.tag=" + p.TerraformControllerVersion, "image.pullPolicy=IfNotPresent",
			"terraformImage=vela-infra/terraform:" + strings.TrimPrefix(p.TerraformVersion, "v"),
			"busyboxImage=vela-infra/busybox:1.35", "gitImage=vela-infra/busybox:1.35",
			"backend.namespace=vela-system",
		},
	}, {
		name: "kubevela", chart: p.VelaCoreChart, deployment: "kubevela-vela-core",
		values: []string{
			"image.repository=vela-infra/vela-core", "image.tag=" + p.VelaCoreVersion, "image.pullPolicy=IfNotPresent",
			"admissionWebhooks.enabled=false", "multicluster.enabled=false",
			"applicationRevisionLimit=5", "resources.limits.cpu=1",
		},
	}}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	for _, r := range releases {
		t := time.Now()
		args := []string{"upgrade", "--install", r.name, r.chart, "--namespace", "vela-system", "--create-namespace",
			"--kubeconfig", c.Kubeconfig(), "--wait=false"}
		for _, v := range r.values {
			args = append(args, "--set", v)
		}
		cmd := exec.CommandContext(ctx, p.Helm, args...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+c.path("helm", "cache"), "HELM_CONFIG_HOME="+c.path("helm", "config"), "HELM_DATA_HOME="+c.path("helm", "data"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("helm install %s: %v\n%s", r.name, err, out)
		}
		c.phase("%s installed with helm from %s (%.1fs)", r.name, r.chart, time.Since(t).Seconds())
	}
	for _, r := range releases {
		if err := c.WaitDeployment(ctx, "vela-system", r.deployment, 3*time.Minute); err != nil {
			return err
		}
		if _, err := cs.AppsV1().Deployments("vela-system").Get(ctx, r.deployment, metav1.GetOptions{}); err != nil {
			return err
		}
		c.phase("%s available", r.deployment)
	}
	return nil
}

// WaitDeployment waits until a Deployment's new pods are all available and
// says which pod is not when the timeout passes.
func (c *Cluster) WaitDeployment(ctx context.Context, ns, name string, timeout time.Duration) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	var last *appsv1.Deployment
	err = poll(ctx, timeout, "Deployment "+ns+"/"+name, func() (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want, nil
	})
	if err == nil || last == nil {
		return err
	}
	pods, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(last.Spec.Selector)})
	var why []string
	for _, p := range pods.Items {
		for _, s := range p.Status.ContainerStatuses {
			switch {
			case s.State.Waiting != nil:
				why = append(why, fmt.Sprintf("pod %s container %s waiting: %s %s", p.Name, s.Name, s.State.Waiting.Reason, s.State.Waiting.Message))
			case s.State.Terminated != nil:
				why = append(why, fmt.Sprintf("pod %s container %s exited %d: %s", p.Name, s.Name, s.State.Terminated.ExitCode, s.State.Terminated.Message))
			case !s.Ready:
				why = append(why, fmt.Sprintf("pod %s container %s not ready", p.Name, s.Name))
			}
		}
		if len(p.Status.ContainerStatuses) == 0 {
			why = append(why, fmt.Sprintf("pod %s %s", p.Name, p.Status.Phase))
		}
	}
	return fmt.Errorf("%w: %s (kubectl -n %s logs deploy/%s)", err, strings.Join(why, "; "), ns, name)
}

// DefaultPlatform is the platform of the repository at root: tool versions
// from bin/.<tool>.version, charts from the module cache (moduleDir resolves
// a module path to its directory).
func DefaultPlatform(root string, moduleDir func(string) (string, error)) (Platform, error) {
	version := func(tool string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, "bin", "."+tool+".version"))
		if err != nil {
			return "", fmt.Errorf("%s is not built (run make tools): %w", tool, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	p := Platform{Helm: filepath.Join(root, "bin", "helm")}
	var err error
	for tool, v := range map[string]*string{"vela-core": &p.VelaCoreVersion, "terraform-controller": &p.TerraformControllerVersion, "terraform": &p.TerraformVersion} {
		if *v, err = version(tool); err != nil {
			return p, err
		}
	}
	kv, err := moduleDir("github.com/oam-dev/kubevela")
	if err != nil {
		return p, err
	}
	tfc, err := moduleDir("github.com/oam-dev/terraform-controller")
	if err != nil {
		return p, err
	}
	p.VelaCoreChart = filepath.Join(kv, "charts", "vela-core")
	p.TerraformControllerChart = filepath.Join(tfc, "chart")
	return p, nil
}
