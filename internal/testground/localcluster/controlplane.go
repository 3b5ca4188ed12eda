package localcluster

import (
	"context"
	"fmt"
)

// etcdURL is where etcd serves its clients (kube-apiserver only).
var etcdURL = fmt.Sprintf("http://127.0.0.1:%d", etcdPort)

// startControlPlane starts etcd, then kube-apiserver once etcd is healthy.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	if err := c.ensure(ctx, "etcd", []string{
		"--name=vela-infra", "--data-dir=" + c.path("etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPort+1),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPort+1),
		fmt.Sprintf("--initial-cluster=vela-infra=http://127.0.0.1:%d", etcdPort+1),
		"--unsafe-no-fsync", "--quota-backend-bytes=4294967296",
	}, c.httpReady(etcdURL+"/health", false)); err != nil {
		return err
	}
	return c.ensure(ctx, "kube-apiserver", []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=0.0.0.0", fmt.Sprintf("--secure-port=%d", apiServerPort), "--advertise-address=" + c.hostIP.String(),
		"--tls-cert-file=" + c.pki("apiserver.crt"), "--tls-private-key-file=" + c.pki("apiserver.key"),
		"--client-ca-file=" + c.pki("ca.crt"),
		"--kubelet-client-certificate=" + c.pki("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + c.pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP", "--kubelet-certificate-authority=" + c.pki("ca.crt"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki("sa.pub"), "--service-account-signing-key-file=" + c.pki("sa.key"),
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction",
	}, c.httpReady(fmt.Sprintf("https://127.0.0.1:%d/readyz", apiServerPort), true))
}

// startControllers starts kube-controller-manager (which signs the
// ServiceAccount tokens and creates the default ServiceAccounts) and
// kube-scheduler.
func (c *Cluster) startControllers(ctx context.Context) error {
	kc := c.kubeconfigOf("controller-manager")
	if err := c.ensure(ctx, "kube-controller-manager", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--leader-elect=false",
		"--service-account-private-key-file=" + c.pki("sa.key"), "--root-ca-file=" + c.pki("ca.crt"),
		"--use-service-account-credentials=true", "--service-cluster-ip-range=" + serviceCIDR,
		"--cluster-signing-cert-file=" + c.pki("ca.crt"), "--cluster-signing-key-file=" + c.pki("ca.key"),
	}, c.httpReady("https://127.0.0.1:10257/healthz", false)); err != nil {
		return err
	}
	kc = c.kubeconfigOf("scheduler")
	return c.ensure(ctx, "kube-scheduler", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--leader-elect=false",
	}, c.httpReady("https://127.0.0.1:10259/healthz", false))
}

// pki is a file of the cluster's PKI (pki.go writes them).
func (c *Cluster) pki(file string) string { return c.path("pki", file) }

// kubeconfigOf is the kubeconfig of one client of the API server.
func (c *Cluster) kubeconfigOf(id string) string { return c.path("kubeconfig", id+".kubeconfig") }
