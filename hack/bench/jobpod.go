package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
)

// jobPodFigure times the same refresh-only plan of target run the way
// terraform-controller runs Terraform: a Job on the local cluster whose pod
// copies the HCL from a ConfigMap in a busybox init container, runs
// `terraform init` in a second one and `terraform plan -refresh-only` in the
// main container of terraform-controller's TERRAFORM_IMAGE, from the Job's
// creation to its completion. The module and the state are the target's (the
// state pulled from its backend into the ConfigMap); the cloud is the same
// mycloud, reached at the host IP. It brings the cluster up for the figure
// when none is running and takes it down again.
func (b *bench) jobPodFigure(target string, ours time.Duration) {
	const name = "drift check vs terraform-controller-style Job pod"
	notMeasured := func(why string) {
		fmt.Printf("%-58s %12s %12s %8s %10s %s\n", name, "-", sec(ours.Seconds()), "-", "<= 0.2", "NOT MEASURED: "+why)
	}
	if os.Geteuid() != 0 {
		notMeasured("the local cluster needs root")
		return
	}
	ctx := context.Background()
	lc, down, err := b.jobPodCluster(ctx)
	if err != nil {
		notMeasured(err.Error())
		return
	}
	defer down()
	base, err := b.jobPodBaseline(ctx, lc, target)
	if err != nil {
		notMeasured(err.Error())
		return
	}
	figure(name, base, ours, "<= 0.2", ours.Seconds()/base.Seconds() <= 0.2)
}

// jobPodCluster is the local cluster, brought up when none is running; down
// takes down a cluster brought up here, and does nothing to one that was
// already running.
func (b *bench) jobPodCluster(ctx context.Context) (lc *localcluster.Cluster, down func(), err error) {
	lc, err = localcluster.New(b.root, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	if lc.Running() {
		return lc, func() {}, nil
	}
	if err := lc.Up(ctx); err != nil {
		return nil, nil, fmt.Errorf("make up failed: %w", err)
	}
	// Down right after the figure (a running cluster would load the
	// figures after it), and on a fatal error or a signal.
	var once sync.Once
	down = func() { once.Do(func() { _ = lc.Down() }) }
	b.exits.add(down)
	return lc, down, nil
}

// jobPodBaseline is the median time of the Job pod on target, after one
// unmeasured run.
func (b *bench) jobPodBaseline(ctx context.Context, lc *localcluster.Cluster, target string) (time.Duration, error) {
	cs, err := lc.Clientset()
	if err != nil {
		return 0, err
	}
	state, err := b.pullState(target)
	if err != nil {
		return 0, err
	}
	tfVersion, err := os.ReadFile(filepath.Join(b.root, "bin", ".terraform.version"))
	if err != nil {
		return 0, err
	}
	image := "vela-infra/terraform:" + strings.TrimPrefix(strings.TrimSpace(string(tfVersion)), "v")
	endpoint := "http://" + lc.HostIP().String() + ":" + cloudPort
	ns := "default"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bench-" + target, Namespace: ns},
		Data: map[string]string{"main.tf": bucketsHCL(target, 1), "terraform.tfstate": state}}
	_ = cs.CoreV1().ConfigMaps(ns).Delete(ctx, cm.Name, metav1.DeleteOptions{})
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	// One unmeasured run first: the first pod on a fresh node also pays
	// for unpacking the images, which terraform-controller pays once.
	if _, err := runJobPod(ctx, cs, ns, "bench-warm", cm.Name, image, endpoint); err != nil {
		return 0, err
	}
	var vals []float64
	for i := 0; i < b.runs; i++ {
		d, err := runJobPod(ctx, cs, ns, fmt.Sprintf("bench-%s-%d", target, i), cm.Name, image, endpoint)
		if err != nil {
			return 0, err
		}
		vals = append(vals, d.Seconds())
	}
	b.raw.record("jobpod/"+target, vals)
	return time.Duration(med(vals) * float64(time.Second)), nil
}

// pullState reads the target's state from its backend, in the workspace the
// step-runner initialised.
func (b *bench) pullState(target string) (string, error) {
	dir := b.workspace(target)
	cmd := exec.Command(b.bin("terraform"), "state", "pull")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+b.bin("terraformrc"), "CHECKPOINT_DISABLE=1")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("terraform state pull in %s: %w", dir, err)
	}
	return string(out), nil
}

func runJobPod(ctx context.Context, cs *kubernetes.Clientset, ns, name, configMap, image, endpoint string) (time.Duration, error) {
	env := []corev1.EnvVar{{Name: "MYCLOUD_ENDPOINT", Value: endpoint}, {Name: "MYCLOUD_ACCESS_KEY", Value: accessKey}, {Name: "MYCLOUD_SECRET_KEY", Value: secretKey}}
	mounts := []corev1.VolumeMount{{Name: "work", MountPath: "/data"}}
	one := int32(1)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{Parallelism: &one, Completions: &one, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			InitContainers: []corev1.Container{
				{Name: "prepare-input-terraform-configurations", Image: "vela-infra/busybox:1.35", ImagePullPolicy: corev1.PullIfNotPresent,
					Command:      []string{"sh", "-c", "cp /opt/tf-configuration/* /data"},
					VolumeMounts: append(mounts, corev1.VolumeMount{Name: "input", MountPath: "/opt/tf-configuration"})},
				{Name: "terraform-init", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"sh", "-c", "terraform init"}, VolumeMounts: mounts, Env: env},
			},
			Containers: []corev1.Container{{Name: "terraform-executor", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				// The pod plans on its own copy of the state (local backend),
				// with Terraform's default locking of that copy.
				Command: []string{"bash", "-c", "terraform plan -refresh-only -input=false"}, VolumeMounts: mounts, Env: env}},
			Volumes: []corev1.Volume{
				{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "input", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}},
			},
		}}},
	}
	start := time.Now()
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	background := metav1.DeletePropagationBackground
	defer func() {
		_ = cs.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
	}()
	deadline := start.Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		if j.Status.Succeeded == 1 {
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("the Job %s/%s did not complete in 3 minutes", ns, name)
}
