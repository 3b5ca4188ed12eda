package localcluster

import (
	"fmt"
	"os"
)

// PauseImage is the sandbox image hack/images builds.
const PauseImage = "docker.io/vela-infra/pause:3.9"

// writeConfigs writes containerd's, the CNI network's, the kubelet's and
// kube-proxy's configuration. The settings that matter on these machines:
// restrict_oom_score_adj (root lacks CAP_SYS_RESOURCE), cgroupfs, the CNI
// binaries from Debian in /usr/lib/cni, conntrack.maxPerCore 0 (kube-proxy
// cannot write nf_conntrack_max here), and image GC off (imported images
// cannot be pulled back).
func (c *Cluster) writeConfigs() error {
	files := map[string]string{
		c.path("config", "containerd.toml"): fmt.Sprintf(`version = 2
root = %q
state = %q

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, c.path("containerd", "root"), c.path("containerd", "state"), c.sock(), PauseImage, c.path("cni", "net.d")),

		c.path("cni", "net.d", "10-vela-infra.conflist"): fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "vela-infra",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, bridgeName, c.path("cni", "ipam"), podCIDR),

		c.path("config", "kubelet.yaml"): fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %q
# A single-node development cluster: only clients with a certificate of the
# cluster CA (kube-apiserver) reach the kubelet, and they may do anything.
authorization:
  mode: AlwaysAllow
tlsCertFile: %q
tlsPrivateKeyFile: %q
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
serializeImagePulls: false
`, c.path("pki", "ca.crt"), c.path("pki", "kubelet-serving.crt"), c.path("pki", "kubelet-serving.key"), c.sock()),

		c.path("config", "kube-proxy.yaml"): fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %q
mode: iptables
clusterCIDR: %q
hostnameOverride: %q
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
`, c.path("kubeconfig", "kube-proxy.kubeconfig"), podCIDR, nodeName),
	}
	for p, content := range files {
		// Unchanged files are left alone: kube-proxy exits when its
		// configuration file is written.
		if old, err := os.ReadFile(p); err == nil && string(old) == content {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
