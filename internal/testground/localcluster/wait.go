package localcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// poll calls f every 250ms until it is done, fails, or timeout passes; what
// names the thing waited for in the timeout error.
func poll(ctx context.Context, timeout time.Duration, what string, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitNodeReady waits until the node has registered and is Ready.
func waitNodeReady(ctx context.Context, cs kubernetes.Interface, name string, timeout time.Duration) error {
	return poll(ctx, timeout, "node "+name+" Ready (see .cluster/logs/kubelet.log)", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitServiceAccount waits until kube-controller-manager has created a
// ServiceAccount.
func waitServiceAccount(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	return poll(ctx, timeout, "ServiceAccount "+ns+"/"+name+" (see .cluster/logs/kube-controller-manager.log)", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil, nil
	})
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
	return fmt.Errorf("%w: %s (kubectl -n %s logs deploy/%s)", err, strings.Join(podTrouble(ctx, cs, ns, last), "; "), ns, name)
}

// podTrouble says, for each pod of a Deployment, what keeps it from being
// available.
func podTrouble(ctx context.Context, cs kubernetes.Interface, ns string, d *appsv1.Deployment) []string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil {
		return []string{"listing its pods: " + err.Error()}
	}
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
	return why
}
