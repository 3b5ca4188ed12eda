package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// The step-runner serves its webhooks with a certificate it manages itself:
// a self-signed CA (10 years) and a serving certificate it signs for the
// webhook Service (1 year, renewed when less than 90 days are left), kept
// in one Secret of its own namespace so that every replica serves the same
// one; the CA goes into the caBundle of its ValidatingWebhookConfiguration.
// open-policy-agent/cert-controller does the same, but every version the
// module proxy serves needs controller-runtime v0.21+ and k8s.io v0.33+,
// newer than KubeVela v1.10.9 allows here.

// Keys of the certificate Secret.
const (
	caCertKey  = "ca.crt"
	caKeyKey   = "ca.key"
	tlsCertKey = "tls.crt"
	tlsKeyKey  = "tls.key"
)

const (
	caValidity    = 10 * 365 * 24 * time.Hour
	certValidity  = 365 * 24 * time.Hour
	renewBefore   = 90 * 24 * time.Hour
	checkInterval = time.Minute
)

// Certs keeps the webhook serving certificate.
type Certs struct {
	// Client reads and writes live (Secrets are not cached).
	Client client.Client
	// Namespace and Secret: where the CA and certificate are kept (the
	// step-runner's own namespace).
	Namespace, Secret string
	// Service is the webhook Service's name, in Namespace: the certificate
	// is for <Service>.<Namespace>.svc.
	Service string
	// Configuration is the ValidatingWebhookConfiguration whose webhooks
	// calling Service get the CA as caBundle.
	Configuration string
	// Dir is where the server reads tls.crt and tls.key.
	Dir string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (c *Certs) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// dnsNames are the names of the webhook Service.
func (c *Certs) dnsNames() []string {
	return []string{c.Service, c.Service + "." + c.Namespace, c.Service + "." + c.Namespace + ".svc", c.Service + "." + c.Namespace + ".svc.cluster.local"}
}

// Ensure makes sure a valid certificate is in the Secret, in Dir and its CA
// in the webhook configuration. Run before the webhook server starts (it
// needs the files) and then every minute (Start).
func (c *Certs) Ensure(ctx context.Context) error {
	secret, err := c.ensureSecret(ctx)
	if err != nil {
		return err
	}
	if err := c.writeFiles(secret); err != nil {
		return err
	}
	return c.injectCABundle(ctx, secret.Data[caCertKey])
}

// Start renews the certificate and re-injects the CA every minute, on every
// replica (each serves the webhooks).
func (c *Certs) Start(ctx context.Context) error {
	t := time.NewTicker(checkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.Ensure(ctx); err != nil {
				log.FromContext(ctx).Error(err, "could not keep the webhook certificate", "secret", c.Namespace+"/"+c.Secret)
			}
		}
	}
}

// NeedLeaderElection: every replica serves the webhooks.
func (c *Certs) NeedLeaderElection() bool { return false }

// ensureSecret returns the certificate Secret, creating it or renewing its
// serving certificate when needed. Replicas race safely: a create that
// finds the Secret there, or an update that conflicts, reads it again.
func (c *Certs) ensureSecret(ctx context.Context) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Secret}
	var secret corev1.Secret
	err := retry.OnError(retry.DefaultRetry, func(err error) bool { return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) }, func() error {
		err := c.Client.Get(ctx, key, &secret)
		if apierrors.IsNotFound(err) {
			data, err := c.issue(nil, nil)
			if err != nil {
				return err
			}
			secret = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Secret,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "vela-infra-step-runner"}}, Type: corev1.SecretTypeOpaque, Data: data}
			return c.Client.Create(ctx, &secret)
		} else if err != nil {
			return err
		}
		if c.valid(secret.Data) {
			return nil
		}
		caCert, caKey, _ := parseCA(secret.Data)
		data, err := c.issue(caCert, caKey)
		if err != nil {
			return err
		}
		secret.Data = data
		return c.Client.Update(ctx, &secret)
	})
	if err != nil {
		return nil, fmt.Errorf("webhook certificate Secret %s: %w", key, err)
	}
	return &secret, nil
}

// valid says whether data holds a CA and a serving certificate it signed
// for the Service's names, with more than renewBefore left.
func (c *Certs) valid(data map[string][]byte) bool {
	ca, _, err := parseCA(data)
	if err != nil || c.now().Add(renewBefore).After(ca.NotAfter) {
		return false
	}
	cert, err := parseCert(data[tlsCertKey])
	if err != nil || c.now().Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	if err := tlsPair(data); err != nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range c.dnsNames() {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: c.now()}); err != nil {
			return false
		}
	}
	return true
}

// issue signs a serving certificate with the CA given, or with a new CA
// when none is (or it expires within renewBefore).
func (c *Certs) issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey) (map[string][]byte, error) {
	if ca == nil || caKey == nil || c.now().Add(renewBefore).After(ca.NotAfter) {
		var err error
		if ca, caKey, err = c.newCA(); err != nil {
			return nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: c.Service + "." + c.Namespace + ".svc"},
		DNSNames:     c.dnsNames(),
		NotBefore:    c.now().Add(-time.Hour),
		NotAfter:     c.now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		caCertKey:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		caKeyKey:   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER}),
		tlsCertKey: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		tlsKeyKey:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func (c *Certs) newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vela-infra-step-runner webhook CA"},
		NotBefore:             c.now().Add(-time.Hour),
		NotAfter:              c.now().Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseCA(data map[string][]byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	ca, err := parseCert(data[caCertKey])
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(data[caKeyKey])
	if block == nil {
		return nil, nil, errors.New("no PEM CA key")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// tlsPair checks that the certificate and key belong together.
func tlsPair(data map[string][]byte) error {
	cert, err := parseCert(data[tlsCertKey])
	if err != nil {
		return err
	}
	block, _ := pem.Decode(data[tlsKeyKey])
	if block == nil {
		return errors.New("no PEM key")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("the certificate is not of the key")
	}
	return nil
}

// writeFiles writes tls.crt and tls.key into Dir when they changed (the
// server's certificate watcher picks them up).
func (c *Certs) writeFiles(secret *corev1.Secret) error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{tlsCertKey, tlsKeyKey} {
		file := filepath.Join(c.Dir, name)
		if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, secret.Data[name]) {
			continue
		}
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, secret.Data[name], 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, file); err != nil {
			return err
		}
	}
	return nil
}

// injectCABundle puts ca into every webhook of the configuration that calls
// the Service; a configuration not there yet (the chart or addon creates
// it) is left for the next check.
func (c *Certs) injectCABundle(ctx context.Context, ca []byte) error {
	if c.Configuration == "" {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cfg admissionv1.ValidatingWebhookConfiguration
		if err := c.Client.Get(ctx, types.NamespacedName{Name: c.Configuration}, &cfg); apierrors.IsNotFound(err) {
			log.FromContext(ctx).Info("webhook configuration not there yet: its caBundle is set at the next check", "configuration", c.Configuration)
			return nil
		} else if err != nil {
			return fmt.Errorf("read ValidatingWebhookConfiguration %s: %w", c.Configuration, err)
		}
		changed := false
		for i := range cfg.Webhooks {
			svc := cfg.Webhooks[i].ClientConfig.Service
			if svc == nil || svc.Name != c.Service || svc.Namespace != c.Namespace || slices.Equal(cfg.Webhooks[i].ClientConfig.CABundle, ca) {
				continue
			}
			cfg.Webhooks[i].ClientConfig.CABundle = ca
			changed = true
		}
		if !changed {
			return nil
		}
		return c.Client.Update(ctx, &cfg)
	})
}
