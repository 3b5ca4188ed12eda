// Package joblogs keeps the output of terraform-controller's Terraform Job
// runs in ConfigMaps, after the Jobs' pods are gone.
package joblogs

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// MaxLogBytes caps each container's kept log (its tail is kept): a
// ConfigMap holds at most 1 MiB.
const MaxLogBytes = 96 << 10

// ansiColor matches the color codes terraform-controller's Terraform prints
// (it runs without -no-color); the kept logs are plain text.
var ansiColor = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Labels of the ConfigMaps that keep terraform-controller's run output.
const (
	LabelConfiguration = "infra.vela-infra.io/configuration"
	LabelTerraformRun  = "infra.vela-infra.io/terraform-run"
	LabelRunFailed     = "infra.vela-infra.io/failed"
)

// KeepRuns is how many runs' output is kept per Configuration and run
// kind (apply, destroy).
const KeepRuns = 5

// Reconciler keeps the output of terraform-controller's Terraform runs
// after their pods are gone. terraform-controller runs `terraform init` and
// `terraform apply|destroy` in the pods of a Job it deletes whenever the
// Configuration changes (and at its backoff limit the pods go too), and its
// status keeps only the error's first lines. This copies every finished
// container's log (and the previous attempt's, for a container that
// restarted), redacted like the step-runner's own output, into a ConfigMap
// per pod, `<pod>-terraform-log`, owned by the Configuration and labelled
// with it, the run kind and whether it failed; it keeps the last
// KeepRuns per Configuration and kind, and points to a new one from an
// Event on the Configuration.
type Reconciler struct {
	// Client reads pods (cached, only Job pods) and writes ConfigMaps.
	Client client.Client
	// Live reads Configurations.
	Live client.Client
	// Pods reads container logs.
	Pods corev1client.PodsGetter
	// ControllerNamespace is terraform-controller's --controller-namespace:
	// there, Jobs are named after the Configuration's UID.
	ControllerNamespace string
	// Resolver finds the values to redact (credentials, secret variables).
	Resolver *target.Resolver
	// Recorder emits the Events on the Configuration.
	Recorder record.EventRecorder
	// Namespaces it serves (empty: every one): it may write ConfigMaps and
	// Configurations' annotations only there.
	Namespaces []string
}

// AnnotationApplyError, on a Configuration whose last terraform apply
// failed, is Terraform's error in one line (redacted, capped) and where the
// full output is; the mycloud-* components show it in vela status. It is
// removed when an apply succeeds.
const AnnotationApplyError = "infra.vela-infra.io/apply-error"

// maxApplyError caps the annotation: vela status shows it on one line.
const maxApplyError = 400

// PodSelector selects the pods the Reconciler watches, for the
// manager's cache.
func PodSelector() labels.Selector {
	sel, _ := labels.Parse(batchv1.JobNameLabel)
	return sel
}

// SetupWithManager watches Job pods whose state changed.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("terraform-job-logs").
		For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			_, _, ok := terraformJob(o.GetLabels()[batchv1.JobNameLabel])
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
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base, kind, ok := terraformJob(pod.Labels[batchv1.JobNameLabel])
	if !ok || pod.DeletionTimestamp != nil {
		// A pod on its way out may have lost its logs already: what it
		// had was kept when its containers finished.
		return ctrl.Result{}, nil
	}
	cfg, err := r.configuration(ctx, pod.Namespace, base)
	if err != nil || cfg == nil || !r.serves(cfg.Namespace) {
		return ctrl.Result{}, err
	}
	run := collect(&pod)
	if len(run) == 0 {
		return ctrl.Result{}, nil
	}
	secrets := r.secrets(ctx, cfg)
	data := map[string]string{"pod": pod.Namespace + "/" + pod.Name, "summary": summary(run)}
	read := 0
	for _, c := range run {
		logs, err := r.logs(ctx, &pod, c.name, c.previous)
		if err != nil {
			// A log that is gone already is noted, not retried forever.
			logs = fmt.Sprintf("(log not available: %v)", err)
		} else {
			read++
		}
		data[c.key()] = capTail(terraform.Redact(ansiColor.ReplaceAllString(logs, ""), secrets), MaxLogBytes)
	}
	failed := runFailed(run)
	if read == 0 {
		// Nothing readable (the pod is going): never replace kept output
		// with nothing.
		return ctrl.Result{}, nil
	}
	name := pod.Name + "-terraform-log"
	news, err := r.save(ctx, cfg, name, kind, failed, data)
	if err != nil {
		return ctrl.Result{}, err
	}
	if news && r.Recorder != nil {
		where := fmt.Sprintf("kubectl -n %s get configmap %s -o jsonpath='{.data.terraform-executor\\.log}'", cfg.Namespace, name)
		if failed {
			r.Recorder.Eventf(cfg, corev1.EventTypeWarning, "TerraformRunFailed", "terraform %s in pod %s failed (%s); its full output stays after the pod is gone: %s", kind, pod.Name, strings.ReplaceAll(strings.TrimSpace(data["summary"]), "\n", "; "), where)
		} else {
			r.Recorder.Eventf(cfg, corev1.EventTypeNormal, "TerraformRunOutputKept", "terraform %s in pod %s: output kept in ConfigMap %s", kind, pod.Name, name)
		}
	}
	if kind == "apply" {
		if err := r.noteApply(ctx, cfg, failed, run, data, name); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.prune(ctx, cfg, kind); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).V(1).Info("kept Terraform Job output", "configuration", cfg.Name, "configMap", name, "failed", failed)
	return ctrl.Result{}, nil
}

// noteApply puts the error of a failed apply on its Configuration
// (AnnotationApplyError), where vela status shows it, and removes it once
// an apply succeeds. data holds the run's redacted logs.
func (r *Reconciler) noteApply(ctx context.Context, cfg *tfv1beta2.Configuration, failed bool, run []finished, data map[string]string, configMap string) error {
	want := ""
	if failed {
		for _, f := range run {
			if f.exitCode == 0 {
				continue
			}
			if msg := terraform.Summarize(data[f.key()]); msg != "" && !strings.HasPrefix(msg, "(log not available") {
				want = msg
				break
			}
		}
		if want == "" {
			want = strings.ReplaceAll(strings.TrimSpace(summary(run)), "\n", "; ")
		}
		if len(want) > maxApplyError {
			want = want[:maxApplyError] + "…"
		}
		want += " (full output: ConfigMap " + configMap + ")"
	}
	if cfg.Annotations[AnnotationApplyError] == want {
		return nil
	}
	patched := cfg.DeepCopy()
	if want == "" {
		delete(patched.Annotations, AnnotationApplyError)
	} else {
		if patched.Annotations == nil {
			patched.Annotations = map[string]string{}
		}
		patched.Annotations[AnnotationApplyError] = want
	}
	if err := r.Client.Patch(ctx, patched, client.MergeFrom(cfg)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("note the apply error on Configuration %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	return nil
}

func (r *Reconciler) serves(ns string) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, ns)
}

// secrets are the values to redact from the target's logs; when the target
// cannot be resolved (its Provider is gone, say), Terraform's own redaction
// of sensitive values is all there is.
func (r *Reconciler) secrets(ctx context.Context, cfg *tfv1beta2.Configuration) []string {
	if r.Resolver == nil {
		return nil
	}
	res, err := r.Resolver.Resolve(ctx, cfg.Namespace, v1alpha1.Target{ConfigurationName: cfg.Name}, nil)
	if err != nil {
		log.FromContext(ctx).Info("cannot resolve the Configuration to redact its Job output", "configuration", cfg.Name, "error", err.Error())
		return nil
	}
	return res.Target.Secrets
}

// prune keeps the newest KeepRuns outputs of a Configuration's runs of
// one kind.
func (r *Reconciler) prune(ctx context.Context, cfg *tfv1beta2.Configuration, kind string) error {
	var list corev1.ConfigMapList
	if err := r.Client.List(ctx, &list, client.InNamespace(cfg.Namespace), client.MatchingLabels{LabelConfiguration: cfg.Name, LabelTerraformRun: kind}); err != nil {
		return err
	}
	if len(list.Items) <= KeepRuns {
		return nil
	}
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i].CreationTimestamp, list.Items[j].CreationTimestamp
		if a.Equal(&b) {
			return list.Items[i].Name > list.Items[j].Name
		}
		return b.Before(&a)
	})
	for i := KeepRuns; i < len(list.Items); i++ {
		if err := r.Client.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// configuration finds the Configuration a Job pod runs for, or nil.
func (r *Reconciler) configuration(ctx context.Context, ns, base string) (*tfv1beta2.Configuration, error) {
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

func (r *Reconciler) logs(ctx context.Context, pod *corev1.Pod, container string, previous bool) (string, error) {
	limit := int64(4 * MaxLogBytes)
	rc, err := r.Pods.Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Previous: previous, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

// save creates or updates a run's ConfigMap, owned by the Configuration
// (deleted with it), and says whether it is new or its outcome changed; an
// unchanged one is not written.
func (r *Reconciler) save(ctx context.Context, cfg *tfv1beta2.Configuration, name, kind string, failed bool, data map[string]string) (bool, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace}}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	exists := err == nil
	if exists {
		// A log that could not be read this time keeps what an earlier
		// look read.
		for k, v := range data {
			if old, ok := cm.Data[k]; ok && strings.HasPrefix(v, "(log not available") {
				data[k] = old
			}
		}
	}
	outcome := strconv.FormatBool(failed)
	if exists && equalData(cm.Data, data) && cm.Labels[LabelRunFailed] == outcome {
		return false, nil
	}
	changed := !exists || cm.Labels[LabelRunFailed] != outcome
	cm.Labels = map[string]string{
		"app.kubernetes.io/managed-by": "vela-infra-step-runner",
		LabelConfiguration:             cfg.Name,
		LabelTerraformRun:              kind,
		LabelRunFailed:                 outcome,
	}
	cm.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: tfv1beta2.GroupVersion.String(), Kind: "Configuration", Name: cfg.Name, UID: cfg.UID,
	}}
	cm.Data = data
	if exists {
		return changed, r.Client.Update(ctx, cm)
	}
	return true, r.Client.Create(ctx, cm)
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

// runFailed: a container's latest outcome is a failure — its current run
// exited non-zero, or it is being restarted after a failed attempt.
func runFailed(run []finished) bool {
	current := map[string]bool{}
	for _, f := range run {
		if !f.previous {
			current[f.name] = true
			if f.exitCode != 0 {
				return true
			}
		}
	}
	for _, f := range run {
		if f.previous && !current[f.name] && f.exitCode != 0 {
			return true
		}
	}
	return false
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
