package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The stages of the demo, in order: each prints its step and the evidence
// (vela status, mycloud's request log) of what happened.

// importAndProvision is stages 1 and 2: vela up adopts the legacy VPC,
// terraform-controller provisions the rest (the database with a password
// mycloud generates), and the new bucket waits for approval.
func (d *demo) importAndProvision() error {
	d.step("1+2. vela up -f e2e/testdata/platform.yaml: infra-import adopts vpc-legacy01, terraform-controller provisions the subnet and the MySQL instance, and the new bucket waits for approval")
	if err := d.velaDo("vela up", "up", "-f", d.app); err != nil {
		return err
	}
	out, err := d.until("suspending")
	if err != nil {
		return err
	}
	show(out)
	fmt.Println("mycloud's request log, creates/deletes of VPCs:", d.writes("/v1/vpcs"), "(the VPC was adopted, not recreated)")
	fmt.Println("creates by terraform-controller's Jobs:", d.writes("/v1/subnets"), d.writes("/v1/mysql-instances"))
	cfgs, _ := d.c.Kubectl(d.ctx, "get", "configurations")
	fmt.Println("$ kubectl get configurations\n" + cfgs)
	return d.showManagedPassword()
}

func (d *demo) approveBucket() error {
	d.step("approving the new bucket: vela workflow resume platform")
	if err := d.velaDo("vela workflow resume", "workflow", "resume", "platform"); err != nil {
		return err
	}
	if _, err := d.until("finished: true"); err != nil {
		return err
	}
	fmt.Println("bucket creates:", d.writes("/v1/buckets"))
	return nil
}

// driftAndRestart is stage 3: the VPC changed outside the platform, found
// by the next run of the workflow.
func (d *demo) driftAndRestart() error {
	d.step("3. someone edits the VPC in the console (mycloud's admin API), then the workflow runs again: vela workflow restart platform")
	if err := d.admin(http.MethodPatch, "resources/vpcs/vpc-legacy01", `{"tags":{"owner":"someone-else"}}`); err != nil {
		return err
	}
	if err := d.velaDo("vela workflow restart", "workflow", "restart", "platform"); err != nil {
		return err
	}
	out, err := d.until("drifted:")
	if err != nil {
		return err
	}
	show(out)
	_, err = d.until("finished: true")
	return err
}

// changeProperty is stage 4: a property change of the bucket, held by
// infra-approve with its plan shown.
func (d *demo) changeProperty() error {
	d.step("4. a property change held by infra-approve: versioning: true on app-assets")
	raw, err := os.ReadFile(d.app)
	if err != nil {
		return err
	}
	changed := strings.Replace(string(raw), "        acl: private\n", "        acl: private\n        versioning: true\n", 1)
	changedFile := filepath.Join(d.root, ".demo", "platform-versioning.yaml")
	if err := os.WriteFile(changedFile, []byte(changed), 0o644); err != nil {
		return err
	}
	if err := d.velaDo("vela up", "up", "-f", changedFile); err != nil {
		return err
	}
	if _, err = d.until("versioning: false -> true"); err != nil {
		return err
	}
	out, err := d.until("suspending")
	if err != nil {
		return err
	}
	show(out)
	fmt.Println("bucket updates so far:", d.writes("/v1/buckets/"))
	return nil
}

// approveChange approves the property change: the plan shown is applied.
func (d *demo) approveChange() error {
	d.step("approving: vela workflow resume platform (applies exactly the plan shown)")
	if err := d.velaDo("vela workflow resume", "workflow", "resume", "platform"); err != nil {
		return err
	}
	out, err := d.until("finished: true")
	if err != nil {
		return err
	}
	show(out)
	fmt.Println("bucket updates:", d.writes("/v1/buckets/"))
	return nil
}
