package localcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// identity is one certificate the cluster needs.
type identity struct {
	file   string // pki/<file>.crt and .key
	cn     string
	orgs   []string
	server bool
	client bool
	ips    []net.IP
	dns    []string
}

// writePKI generates the cluster CA, every serving and client certificate,
// the service-account key pair and a kubeconfig per client. Existing files
// are kept, so a restart keeps the same identities.
func (c *Cluster) writePKI() error {
	pki := c.path("pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	caCert, caKey, err := loadOrCreateCA(pki)
	if err != nil {
		return err
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), c.hostIP, net.ParseIP(apiServiceIP)}
	ids := []identity{
		{file: "apiserver", cn: "kube-apiserver", server: true, ips: ips,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
		{file: "admin", cn: "vela-infra-admin", orgs: []string{"system:masters"}, client: true},
		{file: "controller-manager", cn: "system:kube-controller-manager", client: true},
		{file: "scheduler", cn: "system:kube-scheduler", client: true},
		{file: "kubelet", cn: "system:node:" + nodeName, orgs: []string{"system:nodes"}, client: true},
		{file: "kubelet-serving", cn: nodeName, server: true, ips: []net.IP{net.ParseIP("127.0.0.1"), c.hostIP}, dns: []string{nodeName, "localhost"}},
		{file: "kube-proxy", cn: "system:kube-proxy", client: true},
		// vela-core's admission webhook (webhook.go puts it in the Secret
		// its Deployment mounts); kube-apiserver calls it by Service name.
		{file: "vela-core-webhook", cn: webhookDNSNames[2], server: true, dns: webhookDNSNames},
	}
	for _, id := range ids {
		if err := writeLeaf(pki, id, caCert, caKey); err != nil {
			return fmt.Errorf("certificate %s: %w", id.file, err)
		}
	}
	if _, err := os.Stat(filepath.Join(pki, "sa.key")); os.IsNotExist(err) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		if err := writeKey(filepath.Join(pki, "sa.key"), key); err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pki, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
			return err
		}
	}
	for _, k := range []string{"admin", "controller-manager", "scheduler", "kubelet", "kube-proxy"} {
		if err := c.writeKubeconfig(k); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) writeKubeconfig(id string) error {
	pki := c.path("pki")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["vela-infra"] = &clientcmdapi.Cluster{
		Server:               fmt.Sprintf("https://%s:%d", c.hostIP, apiServerPort),
		CertificateAuthority: filepath.Join(pki, "ca.crt"),
	}
	cfg.AuthInfos[id] = &clientcmdapi.AuthInfo{
		ClientCertificate: filepath.Join(pki, id+".crt"),
		ClientKey:         filepath.Join(pki, id+".key"),
	}
	cfg.Contexts["vela-infra"] = &clientcmdapi.Context{Cluster: "vela-infra", AuthInfo: id}
	cfg.CurrentContext = "vela-infra"
	return clientcmd.WriteToFile(*cfg, c.path("kubeconfig", id+".kubeconfig"))
}

func loadOrCreateCA(pki string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	crtPath, keyPath := filepath.Join(pki, "ca.crt"), filepath.Join(pki, "ca.key")
	if crtPEM, err := os.ReadFile(crtPath); err == nil {
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, nil, err
		}
		cb, _ := pem.Decode(crtPEM)
		kb, _ := pem.Decode(keyPEM)
		if cb == nil || kb == nil {
			return nil, nil, fmt.Errorf("%s or %s is not PEM: run make down and make up", crtPath, keyPath)
		}
		cert, err := x509.ParseCertificate(cb.Bytes)
		if err != nil {
			return nil, nil, err
		}
		key, err := x509.ParseECPrivateKey(kb.Bytes)
		return cert, key, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vela-infra-local-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writeLeaf(pki string, id identity, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	crtPath := filepath.Join(pki, id.file+".crt")
	if _, err := os.Stat(crtPath); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.cn, Organization: id.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		IPAddresses:  id.ips,
		DNSNames:     id.dns,
	}
	if id.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if id.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(pki, id.file+".key"), key); err != nil {
		return err
	}
	return os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// PersonKubeconfig issues a client certificate of the cluster CA for the
// user name in groups, and writes a kubeconfig for it: someone the API
// server authenticates as name (and system:authenticated), for tests of
// who may do what. A name issued before keeps its first certificate. It
// returns the kubeconfig's path.
func (c *Cluster) PersonKubeconfig(name string, groups ...string) (string, error) {
	pki := c.path("pki")
	caCert, caKey, err := loadOrCreateCA(pki)
	if err != nil {
		return "", err
	}
	id := identity{file: "person-" + name, cn: name, orgs: groups, client: true}
	if err := writeLeaf(pki, id, caCert, caKey); err != nil {
		return "", fmt.Errorf("certificate of %s: %w", name, err)
	}
	if err := c.writeKubeconfig(id.file); err != nil {
		return "", err
	}
	return c.kubeconfigOf(id.file), nil
}
