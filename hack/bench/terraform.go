package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// workspace is the directory in which the step-runner runs Terraform for
// target.
func (b *bench) workspace(target string) string {
	return filepath.Join(b.stack.Dir, "workspaces", "default", target)
}

// bareRefreshOnly times `terraform plan -refresh-only` in the target's
// already-initialised workspace, with the same state, credentials and lock.
func (b *bench) bareRefreshOnly(target string) (time.Duration, error) {
	return b.bareRefresh(target, true)
}

// bareRefresh is bareRefreshOnly, with or without go-plugin's provider TLS.
func (b *bench) bareRefresh(target string, providerTLS bool) (time.Duration, error) {
	dir := b.workspace(target)
	cmd := exec.Command(b.bin("terraform"), "plan", "-refresh-only", "-input=false", "-lock=true")
	cmd.Dir = dir
	cmd.Env = b.terraformEnv(providerTLS)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("terraform plan -refresh-only in %s: %v\n%s", dir, err, out)
	}
	return time.Since(start), nil
}

// terraformEnv is the environment of a hand-run Terraform: the step-runner's
// CLI config, plugin cache and credentials; without providerTLS, also the
// step-runner's default TF_DISABLE_PLUGIN_TLS=1.
func (b *bench) terraformEnv(providerTLS bool) []string {
	env := os.Environ()
	if !providerTLS {
		env = append(env, "TF_DISABLE_PLUGIN_TLS=1")
	}
	return append(env, "TF_CLI_CONFIG_FILE="+b.bin("terraformrc"), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"MYCLOUD_ENDPOINT="+b.cloud, "MYCLOUD_ACCESS_KEY="+accessKey, "MYCLOUD_SECRET_KEY="+secretKey,
		"TF_PLUGIN_CACHE_DIR="+filepath.Join(b.stack.Dir, "plugins"))
}
