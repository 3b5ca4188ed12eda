package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Platform is what runs in the cluster before the project's addons:
// vela-core, installed with helm from the chart in its Go module (it is what
// runs addons), then terraform-controller, installed the way KubeVela's
// catalog installs it, as the addon terraform (addons/terraform, offline),
// both from the images hack/images built.
type Platform struct {
	Helm string
	// VelaCoreChart is vela-core's chart directory, TerraformAddon the
	// terraform addon's directory.
	VelaCoreChart, TerraformAddon string
	// Versions are the image tags (the tools' versions).
	VelaCoreVersion, TerraformControllerVersion, TerraformVersion string
}

// Install installs or upgrades vela-core in vela-system, then enables the
// terraform addon with `vela addon enable` and waits until both Deployments
// are available.
func (c *Cluster) Install(ctx context.Context, p Platform) error {
	if err := c.installVelaCore(ctx, p); err != nil {
		return err
	}
	if err := c.removeHelmRelease(ctx, p, "terraform-controller"); err != nil {
		return err
	}
	// The tags of the images make images built (the addon's defaults, unless
	// make generate is behind).
	if err := c.enableAddon(ctx, p.TerraformAddon,
		"imageTag="+p.TerraformControllerVersion,
		"terraformImage=vela-infra/terraform:"+strings.TrimPrefix(p.TerraformVersion, "v"),
	); err != nil {
		return err
	}
	if err := c.WaitDeployment(ctx, "vela-system", "terraform-controller", 3*time.Minute); err != nil {
		return err
	}
	c.phase("terraform-controller available")
	return nil
}

// installVelaCore installs or upgrades the kubevela release with its
// admission webhooks on, as a default install has them (webhook.go: the
// certificate Secret before helm, the CA bundle and failurePolicy after),
// and waits until vela-core is available and its webhook answers: it runs
// the addons' Applications and validates them.
func (c *Cluster) installVelaCore(ctx context.Context, p Platform) error {
	if err := c.writeWebhookSecret(ctx); err != nil {
		return err
	}
	t := time.Now()
	// --no-hooks: the chart's only hooks are kube-webhook-certgen's Jobs
	// (and helm test), whose image is not here; webhook.go does their work.
	args := []string{"upgrade", "--install", velaCoreRelease, p.VelaCoreChart, "--namespace", velaNamespace, "--create-namespace", "--wait=false", "--no-hooks"}
	for _, v := range []string{
		"image.repository=vela-infra/vela-core", "image.tag=" + p.VelaCoreVersion, "image.pullPolicy=IfNotPresent",
		"admissionWebhooks.enabled=true", "admissionWebhooks.patch.enabled=true", "admissionWebhooks.failurePolicy=Fail",
		// With webhooks on, the chart adds a readiness probe that first
		// runs after 30 s; vela-core is ready in about one.
		"readinessProbe.initialDelaySeconds=1", "readinessProbe.periodSeconds=1",
		"multicluster.enabled=false",
		"applicationRevisionLimit=5", "resources.limits.cpu=1",
	} {
		args = append(args, "--set", v)
	}
	if out, err := c.helm(ctx, p, args...); err != nil {
		return fmt.Errorf("helm install kubevela: %v\n%s", err, out)
	}
	if err := c.patchWebhooks(ctx); err != nil {
		return err
	}
	c.phase("kubevela installed with helm from %s, webhooks given the cluster CA and failurePolicy Fail (%.1fs)", p.VelaCoreChart, time.Since(t).Seconds())
	if err := c.WaitDeployment(ctx, velaNamespace, "kubevela-vela-core", 3*time.Minute); err != nil {
		return err
	}
	c.phase("kubevela-vela-core available")
	if err := c.waitWebhook(ctx, 60*time.Second); err != nil {
		return err
	}
	c.phase("vela-core's admission webhook answers kube-apiserver through Service %s/%s", velaNamespace, webhookService)
	return nil
}

// removeHelmRelease uninstalls a Helm release in vela-system if there is
// one: terraform-controller's, from a cluster started before it became an
// addon. Helm keeps the CRDs; the addon adopts them.
func (c *Cluster) removeHelmRelease(ctx context.Context, p Platform, name string) error {
	out, err := c.helm(ctx, p, "list", "--namespace", "vela-system", "--short", "--filter", "^"+name+"$")
	if err != nil {
		return fmt.Errorf("helm list: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	if out, err := c.helm(ctx, p, "uninstall", name, "--namespace", "vela-system", "--wait"); err != nil {
		return fmt.Errorf("helm uninstall %s: %v\n%s", name, err, out)
	}
	c.phase("helm release %s uninstalled (now the addon installs it)", name)
	return nil
}

// helm runs p.Helm against the cluster with its state under .cluster/helm.
func (c *Cluster) helm(ctx context.Context, p Platform, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.Helm, append(args, "--kubeconfig", c.Kubeconfig())...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+c.path("helm", "cache"), "HELM_CONFIG_HOME="+c.path("helm", "config"), "HELM_DATA_HOME="+c.path("helm", "data"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// DefaultPlatform is the platform of the repository at root: tool versions
// from bin/.<tool>.version, vela-core's chart from the module cache
// (moduleDir resolves a module path to its directory), the terraform addon
// from addons/terraform.
func DefaultPlatform(root string, moduleDir func(string) (string, error)) (Platform, error) {
	version := func(tool string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, "bin", "."+tool+".version"))
		if err != nil {
			return "", fmt.Errorf("%s is not built (run make tools): %w", tool, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	p := Platform{Helm: filepath.Join(root, "bin", "helm"), TerraformAddon: filepath.Join(root, "addons", "terraform")}
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
	p.VelaCoreChart = filepath.Join(kv, "charts", "vela-core")
	return p, nil
}
