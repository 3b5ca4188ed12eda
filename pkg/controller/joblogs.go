package controller

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
)

// JobNameLabel is the label the Job controller puts on a Job's pods.
const JobNameLabel = "batch.kubernetes.io/job-name"

// MaxJobLogBytes caps each container's kept log (its tail is kept): a
// ConfigMap holds at most 1 MiB.
const MaxJobLogBytes = 96 << 10

// ansiColor matches the color codes terraform-controller's Terraform prints
// (it runs without -no-color); the kept logs are plain text.
var ansiColor = regexp.MustCompile("\x1b\\[[0-9;]*m")

// JobLogReconciler keeps the output of terraform-controller's Terraform runs
// after their pods are gone. terraform-controller runs `terraform init` and
// `terraform apply|destroy` in the pods of a Job it deletes whenever the
// Configuration changes, and its status keeps only the error's first lines;
// this copies every finished container's log (and the previous attempt's,
// for a container that restarted) into a ConfigMap owned by the
// Configuration:
//
//	<configuration>-terraform-<apply|destroy>-log         the latest run
//	<configuration>-terraform-<apply|destroy>-failed-log  the latest failed run
type JobLogReconciler struct {
	// Client reads pods (cached, only Job pods) and writes ConfigMaps.
	Client client.Client
	// Live reads Configurations.
	Live client.Client
	// Pods reads container logs.
	Pods corev1client.PodsGetter
	// ControllerNamespace is terraform-controller's --controller-namespace:
	// there, Jobs are named after the Configuration's UID.
	ControllerNamespace string
}

// JobPodSelector selects the pods the JobLogReconciler watches, for the
// manager's cache.
func JobPodSelector() labels.Selector {
	sel, _ := labels.Parse(JobNameLabel)
	return sel
}

// SetupWithManager watches Job pods whose state changed.
func (r *JobLogReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("terraform-job-logs").
		For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			_, _, ok := terraformJob(o.GetLabels()[JobNameLabel])
			return ok
		}))).
		Complete(r)
}

// terraformJob splits a terraform-controller Job name into the
// Configuration's name (or UID) and the run kind.
func terraformJob(job string) (base, kind string, ok bool) {
	for _, k := range []string{"apply", "destroy"} {
		if b, found := strings.CutSuffix(job, "-"+k); found && b != "" {
			return b, k, true
		}
	}
	return "", "", false
}

// Reconcile copies the logs of a Job pod's finished containers.
func (r *JobLogReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base, kind, ok := terraformJob(pod.Labels[JobNameLabel])
	if !ok || pod.DeletionTimestamp != nil {
		// A pod on its way out may have lost its logs already: what it
		// had was kept when its containers finished.
		return ctrl.Result{}, nil
	}
	cfg, err := r.configuration(ctx, pod.Namespace, base)
	if err != nil || cfg == nil {
		return ctrl.Result{}, err
	}
	run := collect(&pod)
	if len(run) == 0 {
		return ctrl.Result{}, nil
	}
	data := map[string]string{"pod": pod.Namespace + "/" + pod.Name, "summary": summary(run)}
	failed, read := false, 0
	for _, c := range run {
		logs, err := r.logs(ctx, &pod, c.name, c.previous)
		if err != nil {
			// A log that is gone already is noted, not retried forever.
			logs = fmt.Sprintf("(log not available: %v)", err)
		} else {
			read++
		}
		data[c.key()] = capTail(ansiColor.ReplaceAllString(logs, ""), MaxJobLogBytes)
		failed = failed || c.exitCode != 0
	}
	if read == 0 {
		// Nothing readable (the pod is going): never replace kept output
		// with nothing.
		return ctrl.Result{}, nil
	}
	name := fmt.Sprintf("%s-terraform-%s-log", cfg.Name, kind)
	if err := r.save(ctx, cfg, name, data); err != nil {
		return ctrl.Result{}, err
	}
	if failed {
		if err := r.save(ctx, cfg, fmt.Sprintf("%s-terraform-%s-failed-log", cfg.Name, kind), data); err != nil {
			return ctrl.Result{}, err
		}
	}
	log.FromContext(ctx).V(1).Info("kept Terraform Job output", "configuration", cfg.Name, "configMap", name, "failed", failed)
	return ctrl.Result{}, nil
}

// configuration finds the Configuration a Job pod runs for, or nil.
func (r *JobLogReconciler) configuration(ctx context.Context, ns, base string) (*tfv1beta2.Configuration, error) {
	if r.ControllerNamespace != "" && ns == r.ControllerNamespace {
		var list tfv1beta2.ConfigurationList
		if err := r.Live.List(ctx, &list); err != nil {
			return nil, err
		}
		for i := range list.Items {
			if string(list.Items[i].UID) == base {
				return &list.Items[i], nil
			}
		}
		return nil, nil
	}
	var cfg tfv1beta2.Configuration
	if err := r.Live.Get(ctx, types.NamespacedName{Namespace: ns, Name: base}, &cfg); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &cfg, nil
}

func (r *JobLogReconciler) logs(ctx context.Context, pod *corev1.Pod, container string, previous bool) (string, error) {
	limit := int64(4 * MaxJobLogBytes)
	rc, err := r.Pods.Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Previous: previous, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

// save creates or updates a ConfigMap owned by the Configuration (deleted
// with it); an unchanged one is not written.
func (r *JobLogReconciler) save(ctx context.Context, cfg *tfv1beta2.Configuration, name string, data map[string]string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace}}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	if exists && cm.Data["pod"] == data["pod"] {
		// Same pod: a log that could not be read this time keeps what an
		// earlier look read.
		for k, v := range data {
			if old, ok := cm.Data[k]; ok && strings.HasPrefix(v, "(log not available") {
				data[k] = old
			}
		}
	}
	if exists && equalData(cm.Data, data) {
		return nil
	}
	cm.Labels = map[string]string{
		"app.kubernetes.io/managed-by":      "vela-infra-step-runner",
		"infra.vela-infra.io/configuration": cfg.Name,
	}
	cm.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: tfv1beta2.GroupVersion.String(), Kind: "Configuration", Name: cfg.Name, UID: cfg.UID,
	}}
	cm.Data = data
	if exists {
		return r.Client.Update(ctx, cm)
	}
	return r.Client.Create(ctx, cm)
}

// finished is one terminated run of a container.
type finished struct {
	name     string
	previous bool
	exitCode int32
	reason   string
	at       time.Time
}

func (f finished) key() string {
	if f.previous {
		return f.name + ".previous.log"
	}
	return f.name + ".log"
}

// collect lists the pod's terminated containers, init containers first, and
// the previous run of a container that restarted.
func collect(pod *corev1.Pod) []finished {
	var out []finished
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range statuses {
			if t := s.State.Terminated; t != nil {
				out = append(out, finished{name: s.Name, exitCode: t.ExitCode, reason: t.Reason, at: t.FinishedAt.Time})
			}
			if t := s.LastTerminationState.Terminated; t != nil && s.RestartCount > 0 {
				out = append(out, finished{name: s.Name, previous: true, exitCode: t.ExitCode, reason: t.Reason, at: t.FinishedAt.Time})
			}
		}
	}
	return out
}

func summary(run []finished) string {
	lines := make([]string, 0, len(run))
	for _, f := range run {
		lines = append(lines, fmt.Sprintf("%s: exit code %d (%s) at %s", strings.TrimSuffix(f.key(), ".log"), f.exitCode, f.reason, f.at.UTC().Format(time.RFC3339)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// capTail keeps the last max bytes of s, starting at a line, and says how
// much was cut.
func capTail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := len(s) - max
	if i := strings.IndexByte(s[cut:], '\n'); i >= 0 && i < 4096 {
		cut += i + 1
	}
	return fmt.Sprintf("[... first %d bytes cut; the end of the log follows ...]\n", cut) + s[cut:]
}

func equalData(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
