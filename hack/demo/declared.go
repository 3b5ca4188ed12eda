package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// Stage 6, declared drift (docs/drift-detection.md), the way e2e
// TestCluster/DeclaredDrift takes it: a component with the trait
// drift-detection (every 30s, remedy revert) is checked on a schedule, and
// an edit in the console is put back by one in-place update, with no
// workflow run.

const (
	declaredApp   = "declared"
	declaredComp  = "reports"                         // a mycloud-bucket, named reports in mycloud too
	declaredDrift = declaredComp + "-drift-detection" // the InfraDrift the trait renders
)

// declaredFile is the application of stage 6.
func (d *demo) declaredFile() string { return filepath.Join(d.root, "hack", "demo", "declared.yaml") }

// declareDrift shows the trait's parameters and deploys stage 6's
// application before stage 5, without waiting: its bucket is created and
// its first checks run while stage 5 does, so that stage 6 only waits for
// the check that follows the edit.
func (d *demo) declareDrift() error {
	d.step("6 (deployed now, shown after stage 5): vela up -f hack/demo/declared.yaml: bucket reports with the trait drift-detection (interval: 30s, remedy: revert), checked on that schedule from now on")
	out, err := d.vela("show", "drift-detection")
	if err != nil {
		return fmt.Errorf("vela show drift-detection: %v\n%s", err, out)
	}
	fmt.Println("$ vela show drift-detection\n" + strings.TrimSpace(out))
	return d.velaUp(d.declaredFile())
}

// declaredDriftReverted edits the bucket in the console and waits for the
// schedule to find the edit and revert it; then shows the evidence: the
// InfraDrift, its Event, mycloud's log of the corrective write, the bucket
// as declared again, and vela status.
func (d *demo) declaredDriftReverted() error {
	d.step("6. declared drift: someone turns on versioning of bucket reports in the console; the trait's next check finds it and reverts it, with no workflow run")
	// Both were done during stage 5: the bucket created, a check clean.
	if _, err := d.kubectlUntil("Configuration "+declaredComp+" applied", 4*time.Minute,
		func(out string) bool { return out == "Available" },
		"get", "configuration", declaredComp, "-o", "jsonpath={.status.apply.state}"); err != nil {
		return err
	}
	if _, err := d.kubectlUntil("InfraDrift "+declaredDrift+" checked clean", 2*time.Minute,
		func(out string) bool { return out == "NoDrift" },
		"get", "infradrift", declaredDrift, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`); err != nil {
		return err
	}
	id, err := d.c.Kubectl(d.ctx, "get", "configuration", declaredComp, "-o", "jsonpath={.status.apply.outputs.id.value}")
	if err != nil || !strings.HasPrefix(id, "bucket-") {
		return fmt.Errorf("the bucket's id (Configuration %s): %q %v", declaredComp, id, err)
	}
	path := "/v1/buckets/" + id
	before, err := d.writeRequests(path)
	if err != nil {
		return err
	}
	if err := d.admin(http.MethodPatch, "resources/buckets/"+id, `{"versioning":true}`); err != nil {
		return err
	}
	edited := time.Now()
	fmt.Printf("console edit: versioning of %s (%s) turned on at %s\n", id, declaredComp, edited.UTC().Format(time.TimeOnly))
	if _, err := d.kubectlUntil("the edit reverted by InfraDrift "+declaredDrift, 2*time.Minute,
		func(out string) bool { return out == "Reverted" },
		"get", "infradrift", declaredDrift, "-o", "jsonpath={.status.remedy.result}"); err != nil {
		return err
	}
	fmt.Printf("reverted %.0fs after the edit (the check runs every 30s)\n", time.Since(edited).Seconds())

	// What the step-runner recorded, current at once: the InfraDrift's
	// printer columns, its Ready message and its Event.
	if err := d.printKubectl("get", "infradrift", declaredDrift); err != nil {
		return err
	}
	msg, _ := d.c.Kubectl(d.ctx, "get", "infradrift", declaredDrift, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	fmt.Printf("its Ready condition: %s\n", msg)
	if err := d.printKubectl("get", "events", "--field-selector", "involvedObject.name="+declaredDrift+",reason=DriftReverted",
		"-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message"); err != nil {
		return err
	}

	// mycloud: the corrective write, and the bucket as declared again.
	after, err := d.writeRequests(path)
	if err != nil {
		return err
	}
	since := "none"
	if len(after) > len(before) {
		since = strings.Join(after[len(before):], ", ")
	}
	fmt.Printf("bucket writes since the edit, from mycloud's request log: %s (the console edit went through the admin API, not /v1)\n", since)
	for _, l := range d.mycloudLogLines(`"method":"PATCH"`, `"path":"`+path+`"`) {
		fmt.Println("mycloud's log: " + l)
	}
	b, err := client.New(d.endpoint, accessKey, secretKey).Get(d.ctx, "buckets", id)
	if err != nil {
		return fmt.Errorf("bucket %s in mycloud: %w", id, err)
	}
	fmt.Printf("bucket %s in mycloud now: versioning %v, acl %s (as declared)\n", id, b.Bool("versioning"), b.String("acl"))

	// vela status: the tree with --detail reads the InfraDrift now (its
	// printer columns); the trait's message under the component is the
	// one vela-core wrote when it last evaluated the application.
	if err := d.printVela("status", declaredApp, "--tree", "--detail"); err != nil {
		return err
	}
	out, err := d.vela("status", declaredApp)
	if err != nil {
		return fmt.Errorf("vela status %s: %v\n%s", declaredApp, err, out)
	}
	fmt.Printf("$ vela status %s: the trait's message is %q, written when vela-core last evaluated the application "+
		"(on deploy, before the check above; again at its 5-minute resync): older than the InfraDrift\n", declaredApp, traitMessage(out, "drift-detection"))
	return nil
}

// printKubectl prints the command and its output.
func (d *demo) printKubectl(args ...string) error {
	out, err := d.c.Kubectl(d.ctx, args...)
	if err != nil {
		return fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Printf("$ kubectl %s\n%s\n", strings.Join(args, " "), strings.TrimRight(out, "\n"))
	return nil
}

// printVela prints the command and its output.
func (d *demo) printVela(args ...string) error {
	out, err := d.vela(args...)
	if err != nil {
		return fmt.Errorf("vela %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Printf("$ vela %s\n%s\n", strings.Join(args, " "), strings.TrimRight(out, "\n"))
	return nil
}

// mycloudLogLines returns the lines of mycloud's log (.demo/mycloud.log)
// that contain every one of want.
func (d *demo) mycloudLogLines(want ...string) []string {
	f, err := os.Open(filepath.Join(d.root, ".demo", "mycloud.log"))
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
next:
	for sc.Scan() {
		for _, w := range want {
			if !strings.Contains(sc.Text(), w) {
				continue next
			}
		}
		lines = append(lines, sc.Text())
	}
	return lines
}

// traitMessage is the message vela status shows for the trait of type
// trait, or "" when it shows none.
func traitMessage(status, trait string) string {
	_, rest, ok := strings.Cut(status, "Type: "+trait+"\n")
	if !ok {
		return ""
	}
	for _, l := range strings.Split(rest, "\n") {
		l = strings.TrimSpace(l)
		if m, ok := strings.CutPrefix(l, "Message: "); ok {
			return m
		}
		if strings.HasPrefix(l, "Type: ") || strings.HasPrefix(l, "- Name: ") {
			break
		}
	}
	return ""
}
