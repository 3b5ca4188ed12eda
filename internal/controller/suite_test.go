package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// One real API server and one step-runner manager for the package, started
// by the first test that needs them (the fake tests, `go test -run Fake`,
// need neither); each test gets its own namespace, mycloud process and
// Provider.
var (
	env       *testenv.Env
	k8s       client.Client
	startOnce sync.Once
	startErr  error
	stopMgr   context.CancelFunc
	nsCounter atomic.Int32
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopMgr != nil {
		stopMgr()
	}
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the test API server:", err)
		}
	}
	os.Exit(code)
}

// manager starts (once) the test API server and the step-runner with the
// real Terraform CLI and the provider mirror, its kubernetes backend
// pointed at that API server.
func manager(t *testing.T) client.Client {
	t.Helper()
	startOnce.Do(func() {
		if env, startErr = testenv.Start(); startErr != nil {
			return
		}
		scheme, err := controller.Scheme()
		if err != nil {
			startErr = err
			return
		}
		kubeconfig := filepath.Join(os.TempDir(), fmt.Sprintf("step-runner-test-%d.kubeconfig", os.Getpid()))
		if startErr = env.WriteKubeconfig(kubeconfig); startErr != nil {
			return
		}
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logSink())))
		mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
			Scheme: scheme, Client: controller.ClientOptions(), Cache: controller.CacheOptions(planNS, controller.Shard{}), Metrics: metricsserver.Options{BindAddress: "0"},
		})
		if err != nil {
			startErr = err
			return
		}
		work, _ := os.MkdirTemp("", "step-runner-work-")
		runner := &terraform.Runner{
			Bin: mycloudtest.TerraformPath(t), WorkDir: filepath.Join(work, "ws"), PluginCacheDir: filepath.Join(work, "plugins"),
			CLIConfigFile: mycloudtest.CLIConfig(t), LockTimeout: 20 * time.Second, GracePeriod: 5 * time.Second,
		}
		if startErr = controller.Setup(mgr, controller.Options{Runner: runner, BackendKubeconfig: kubeconfig, MaxConcurrent: 4, RetryAfter: time.Second / 4,
			// Every run writes its Progressing condition, as long runs do.
			ProgressAfter: -1,
			// A pod of the step-runner (statelock_test.go), as if in a cluster.
			Self: statelock.Identity{Namespace: runnerNS, PodName: runnerPod, Started: time.Now()},
			// Saved plans outside the tenants' namespaces, as in a cluster.
			PlanNamespace: planNS}); startErr != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopMgr = cancel
		go func() { _ = mgr.Start(ctx) }()
		if k8s, startErr = client.New(env.Config, client.Options{Scheme: scheme}); startErr != nil {
			return
		}
		startErr = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: planNS}})
	})
	if startErr != nil {
		t.Fatal(startErr)
	}
	return k8s
}

// planNS keeps the saved plans of every test's InfraApprovals.
const planNS = "vela-infra-plans"

// logSink shows the step-runner's logs with STEP_RUNNER_TEST_LOGS=1.
func logSink() io.Writer {
	if os.Getenv("STEP_RUNNER_TEST_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}

// fixture is one test's namespace, cloud and Provider.
type fixture struct {
	t     *testing.T
	c     client.Client
	ns    string
	cloud *mycloudtest.Cloud
}

const dbPassword = "Sentinel-VarPassw0rd"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := manager(t)
	f := &fixture{t: t, c: c, ns: fmt.Sprintf("t%d", nsCounter.Add(1)), cloud: mycloudtest.Start(t, mycloudtest.Options{})}
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	creds := fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", f.cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "mycloud-credentials"}, StringData: map[string]string{"credentials": creds}})
	f.create(&tfv1beta1.Provider{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "mycloud"},
		Spec: tfv1beta1.ProviderSpec{Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{
			Source:    crossplane.CredentialsSourceSecret,
			SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: f.ns, Name: "mycloud-credentials"}, Key: "credentials"},
		}},
	})
	return f
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := f.c.Create(context.Background(), obj); err != nil {
		f.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func module(t *testing.T, name string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "definitions", "modules", name, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func raw(t *testing.T, v any) *runtime.RawExtension {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.RawExtension{Raw: data}
}

// configurationSpec is a Configuration spec of a module with variables.
func (f *fixture) configurationSpec(moduleName string, vars map[string]any) tfv1beta2.ConfigurationSpec {
	return tfv1beta2.ConfigurationSpec{
		HCL:               module(f.t, moduleName),
		Variable:          raw(f.t, vars),
		ProviderReference: &crossplane.Reference{Name: "mycloud", Namespace: f.ns},
	}
}

func (f *fixture) configuration(name, moduleName string, vars map[string]any) *tfv1beta2.Configuration {
	cfg := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name}, Spec: f.configurationSpec(moduleName, vars)}
	f.create(cfg)
	return cfg
}

// await polls obj until cond holds, failing with its conditions after 90s.
func await[T client.Object](f *fixture, obj T, what string, cond func(T) bool) T {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err == nil && cond(obj) {
			return obj
		}
		if time.Now().After(deadline) {
			data, _ := json.MarshalIndent(obj, "", "  ")
			f.t.Fatalf("timed out waiting for %s; object:\n%s\nmycloud log tail:\n%s", what, data, tail(f.cloud.Log.String(), 2000))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func condition(rs *v1alpha1.RunStatus, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(rs.Conditions, typ)
}

func readyIs(status metav1.ConditionStatus, reason string) func(v1alpha1.StepRun) bool {
	return func(o v1alpha1.StepRun) bool {
		c := condition(o.GetRunStatus(), v1alpha1.ConditionReady)
		return c != nil && c.Status == status && (reason == "" || c.Reason == reason)
	}
}

func stalledWith(reason string) func(v1alpha1.StepRun) bool {
	return func(o v1alpha1.StepRun) bool {
		c := condition(o.GetRunStatus(), v1alpha1.ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason
	}
}

// assertNoSecrets checks that no sentinel secret reached a status, an
// event or a ConfigMap of the namespace.
func (f *fixture) assertNoSecrets(objs ...client.Object) {
	f.t.Helper()
	var blobs []string
	for _, o := range objs {
		_ = f.c.Get(context.Background(), client.ObjectKeyFromObject(o), o)
		data, _ := json.Marshal(o)
		blobs = append(blobs, string(data))
	}
	var events corev1.EventList
	_ = f.c.List(context.Background(), &events, client.InNamespace(f.ns))
	var cms corev1.ConfigMapList
	_ = f.c.List(context.Background(), &cms, client.InNamespace(f.ns))
	data, _ := json.Marshal(events)
	blobs = append(blobs, string(data))
	data, _ = json.Marshal(cms)
	blobs = append(blobs, string(data))
	for _, b := range blobs {
		for _, secret := range []string{mycloudtest.SecretKey, dbPassword} {
			if strings.Contains(b, secret) {
				f.t.Fatalf("sentinel secret %q found in %s", secret, tail(b, 300))
			}
		}
	}
}
