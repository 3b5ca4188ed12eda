package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// Stage 5, shared infrastructure (docs/shared-infrastructure.md), the way
// e2e TestCluster/SharedInfrastructure takes it: a platform application
// owns a Redis, two teams use it by id from their own namespaces, a
// replacement of it is reviewed with both named, deleting a consumer
// destroys nothing, and deleting the owner while the other consumer uses
// the Redis is refused, naming it.

const (
	ownerApp   = "shared-cache"
	redisPaths = "/v1/redis-instances"
	// retainedWhy is the owner's annotation infra.vela-infra.io/retained
	// once both consumers are there.
	retainedWhy = "other Configurations use its resources: team-a/checkout (component checkout-cache), team-b/search (component search-cache)"
)

// consumers are the applications that use the Redis: namespace and name.
var consumers = [][2]string{{"team-a", "checkout"}, {"team-b", "search"}}

// ownerYAML is the platform's Redis in the subnet of platform.yaml, behind
// infra-plan and infra-approve (e2e/testdata/shared-cache.yaml, which the
// e2e test deploys too).
func (d *demo) ownerYAML(version string) (string, error) {
	return testenv.AppFile(d.root, "shared-cache.yaml", map[string]string{"SUBNET_ID": d.subnetID, "REDIS_VERSION": version})
}

// consumerYAML uses the Redis by id (e2e/testdata/cache-consumer.yaml).
func (d *demo) consumerYAML(ns, app string) (string, error) {
	return testenv.AppFile(d.root, "cache-consumer.yaml", map[string]string{"APP": app, "NAMESPACE": ns, "REDIS_ID": d.redisID})
}

// upYAML writes yaml to .demo/name.yaml and runs vela up -f on it.
func (d *demo) upYAML(name, yaml string) error {
	f := filepath.Join(d.root, ".demo", name+".yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		return err
	}
	return d.velaUp(f)
}

// kubectlUntil runs kubectl args until ok accepts its output, for up to
// timeout, and returns that output.
func (d *demo) kubectlUntil(what string, timeout time.Duration, ok func(string) bool, args ...string) (string, error) {
	var out string
	for deadline := time.Now().Add(timeout); ; time.Sleep(2 * time.Second) {
		out, _ = d.c.Kubectl(d.ctx, args...)
		if ok(out) {
			return out, nil
		}
		if time.Now().After(deadline) {
			cfgs, _ := d.c.Kubectl(d.ctx, "get", "configurations", "-A")
			return out, fmt.Errorf("%s: not there after %s; last kubectl %s: %q\n%s", what, timeout, strings.Join(args, " "), out, cfgs)
		}
	}
}

// sharedOwner creates the platform's Redis: held for approval, then
// approved.
func (d *demo) sharedOwner() error {
	d.step("5. shared infrastructure: the platform's app shared-cache owns a Redis in the app subnet (mycloud-redis, manage_password: true) behind infra-plan + infra-approve; approving its creation: vela workflow resume shared-cache")
	subnetID, err := d.c.Kubectl(d.ctx, "get", "configuration", "app-subnet", "-o", "jsonpath={.status.apply.outputs.id.value}")
	if err != nil || !strings.HasPrefix(subnetID, "subnet-") {
		return fmt.Errorf("the platform's subnet id (Configuration app-subnet): %q %v", subnetID, err)
	}
	d.subnetID = subnetID
	owner, err := d.ownerYAML("7.0")
	if err != nil {
		return err
	}
	if err := d.upYAML(ownerApp, owner); err != nil {
		return err
	}
	if _, err := d.statusUntil(ownerApp, "suspending"); err != nil {
		return err
	}
	if err := d.velaDo("vela workflow resume", "workflow", "resume", ownerApp); err != nil {
		return err
	}
	if _, err := d.statusUntil(ownerApp, "finished: true"); err != nil {
		return err
	}
	id, err := d.c.Kubectl(d.ctx, "get", "configuration", "cache", "-o", "jsonpath={.status.apply.outputs.id.value}")
	if err != nil || !strings.HasPrefix(id, "redis-") {
		return fmt.Errorf("the shared Redis id (Configuration cache): %q %v", id, err)
	}
	d.redisID = id
	fmt.Printf("Redis creates: %s; its id, from the Configuration's outputs: %s\n", d.writes(redisPaths), id)
	return nil
}

// sharedConsumers adds the two teams' applications and shows what they
// get, and that the owner's Configuration is now kept in the cloud.
func (d *demo) sharedConsumers() error {
	d.step("two teams use it without owning it: checkout in team-a and search in team-b, each a mycloud-redis-ref component (checkout-cache, search-cache) with id: %s", d.redisID)
	for _, c := range consumers {
		ns, app := c[0], c[1]
		if out, err := d.c.Kubectl(d.ctx, "create", "namespace", ns); err != nil && !strings.Contains(out, "AlreadyExists") {
			return fmt.Errorf("kubectl create namespace %s: %v\n%s", ns, err, out)
		}
		yaml, err := d.consumerYAML(ns, app)
		if err != nil {
			return err
		}
		if err := d.upYAML(app, yaml); err != nil {
			return err
		}
	}
	for _, c := range consumers {
		ns, secret := c[0], c[1]+"-cache-conn"
		encoded, err := d.kubectlUntil("the connection Secret "+ns+"/"+secret, 4*time.Minute,
			func(out string) bool { return out != "" && !strings.Contains(out, "NotFound") },
			"-n", ns, "get", "secret", secret, "-o", "jsonpath={.data.endpoint}")
		if err != nil {
			return err
		}
		endpoint, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
		fmt.Printf("connection Secret %s/%s: endpoint=%s\n", ns, secret, endpoint)
	}
	kept, err := d.kubectlUntil("the owner's Configuration kept for its consumers", time.Minute,
		func(out string) bool { return out == "false "+retainedWhy },
		"get", "configuration", "cache", "-o", `jsonpath={.spec.deleteResource} {.metadata.annotations.infra\.vela-infra\.io/retained}`)
	if err != nil {
		return err
	}
	why := strings.TrimPrefix(kept, "false ")
	fmt.Printf("the owner's Configuration default/cache: deleteResource: false, annotation infra.vela-infra.io/retained: %q\n", why)
	return nil
}

// sharedChange changes the owner's Redis in a way that replaces it: the
// held review names both consumers, and terminate rejects it.
func (d *demo) sharedChange() error {
	d.step("the platform changes redis_version to 6.2, which replaces the Redis: the held review names its consumers")
	before, err := d.writeRequests(redisPaths)
	if err != nil {
		return err
	}
	replaced, err := d.ownerYAML("6.2")
	if err != nil {
		return err
	}
	if err := d.upYAML(ownerApp+"-6.2", replaced); err != nil {
		return err
	}
	if _, err := d.statusUntil(ownerApp, "Shared: "); err != nil {
		return err
	}
	out, err := d.statusUntil(ownerApp, "suspending")
	if err != nil {
		return err
	}
	showApp(ownerApp, abridgePlan(workflowPart(out), 6))

	d.step("rejecting it: vela workflow terminate shared-cache")
	if err := d.velaDo("vela workflow terminate", "workflow", "terminate", ownerApp); err != nil {
		return err
	}
	if _, err := d.statusUntil(ownerApp, "Terminated: true"); err != nil {
		return err
	}
	time.Sleep(5 * time.Second) // a Job of terraform-controller would have started by now
	return d.printRedisWritesSince("Redis writes since the change", before)
}

// sharedDelete deletes a consumer, which destroys nothing, then tries to
// delete the owner while the other consumer still uses the Redis: the
// step-runner's admission webhook refuses it, naming that consumer, and
// nothing is deleted (e2e TestCluster/SharedInfrastructure goes on to
// delete the owner once the last consumer is gone).
func (d *demo) sharedDelete() error {
	d.step("vela delete -n team-a checkout, then vela delete shared-cache (the owner) while search still uses the Redis: refused")
	before, err := d.writeRequests(redisPaths)
	if err != nil {
		return err
	}
	if err := d.velaDo("vela delete -n team-a checkout", "delete", "-n", "team-a", "checkout", "-y"); err != nil {
		return err
	}
	if _, err := d.kubectlUntil("the consumer's Configuration team-a/checkout-cache deleted", 2*time.Minute,
		func(out string) bool { return strings.Contains(out, "NotFound") }, "-n", "team-a", "get", "configuration", "checkout-cache"); err != nil {
		return err
	}
	out, err := d.vela("delete", "-n", "default", ownerApp, "-y")
	if err == nil {
		return fmt.Errorf("vela delete %s succeeded while team-b/search uses its Redis: the step-runner's admission webhook should refuse it\n%s", ownerApp, out)
	}
	_, why, ok := strings.Cut(out, "denied the request: ")
	if !ok {
		return fmt.Errorf("vela delete %s: %v\n%s", ownerApp, err, out)
	}
	why, _, _ = strings.Cut(why, "\n")
	fmt.Println("$ vela delete shared-cache\nrefused by the step-runner's admission webhook: " + why)
	time.Sleep(5 * time.Second) // terraform-controller would have started a destroy Job by now
	if err := d.printRedisWritesSince("Redis writes since (a destroy would be DELETE "+redisPaths+"/"+d.redisID+")", before); err != nil {
		return err
	}
	fmt.Printf("the Redis team-b/search still uses, in mycloud: %s\n", d.redisInCloud())
	return d.velaDo("vela delete -n team-b search", "delete", "-n", "team-b", "search", "-y")
}

// printRedisWritesSince prints the Redis writes in mycloud's request log
// after the ones in before.
func (d *demo) printRedisWritesSince(what string, before []string) error {
	after, err := d.writeRequests(redisPaths)
	if err != nil {
		return err
	}
	since := "none"
	if len(after) > len(before) {
		since = strings.Join(after[len(before):], ", ")
	}
	fmt.Printf("%s: %s (%d in all)\n", what, since, len(after))
	return nil
}

// redisInCloud says how mycloud's API sees the shared Redis now.
func (d *demo) redisInCloud() string {
	r, err := client.New(d.endpoint, accessKey, secretKey).Get(d.ctx, "redis-instances", d.redisID)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s (%s, version %s)", r.String("id"), r.String("status"), r.String("version"))
}

// abridgePlan shortens the diff in a step message to its first max lines,
// keeping what follows it (the Plan: summary, the Shared: consumers).
func abridgePlan(status string, max int) string {
	lines := strings.Split(status, "\n")
	start, end := -1, -1
	for i, l := range lines {
		if start < 0 && strings.Contains(l, "awaits approval") {
			start = i
		}
		if start >= 0 && strings.HasPrefix(l, "Plan: ") {
			end = i
			break
		}
	}
	if start < 0 || end < 0 || end-start-1 <= max {
		return status
	}
	kept := append([]string{}, lines[:start+1+max]...)
	kept = append(kept, fmt.Sprintf("    … %d more lines of the diff", end-start-1-max))
	return strings.Join(append(kept, lines[end:]...), "\n")
}
