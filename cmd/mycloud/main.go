// Command mycloud runs the simulated private cloud: flags and wiring only;
// the cloud itself is package mycloud. `mycloud secret-value <secret-id>`
// prints a password the cloud keeps (see secretvalue.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/vela-infra/vela-infra/internal/mycloud"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "secret-value" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = secretValue(ctx, os.Args[2:], os.Stdout, os.Stderr)
		cancel()
		stop()
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mycloud:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr        = flag.String("addr", envOr("MYCLOUD_ADDR", "127.0.0.1:8480"), "address to listen on (env MYCLOUD_ADDR)")
		dataDir     = flag.String("data-dir", envOr("MYCLOUD_DATA_DIR", "mycloud-data"), "directory of the persistent store (env MYCLOUD_DATA_DIR)")
		accessKey   = flag.String("access-key", envOr("MYCLOUD_ACCESS_KEY", ""), "access key id clients sign with (env MYCLOUD_ACCESS_KEY)")
		secretKey   = flag.String("secret-key", "", "secret key for -access-key; prefer the env MYCLOUD_SECRET_KEY, which does not show in ps")
		adminToken  = flag.String("admin-token", "", "bearer token of the /admin/v1 API; prefer the env MYCLOUD_ADMIN_TOKEN; empty disables it")
		createDelay = flag.Duration("create-delay", 500*time.Millisecond, "how long new resources stay 'creating'")
		seedFile    = flag.String("seed", "", "YAML or JSON file of pre-existing resources to create at start-up (entries with an id that exists are kept)")
		logFormat   = flag.String("log-format", "json", "log line format: json or text")
	)
	flag.Parse()
	if *secretKey == "" {
		*secretKey = os.Getenv("MYCLOUD_SECRET_KEY")
	}
	if *adminToken == "" {
		*adminToken = os.Getenv("MYCLOUD_ADMIN_TOKEN")
	}
	if *accessKey == "" || *secretKey == "" {
		return errors.New("-access-key and a secret key (env MYCLOUD_SECRET_KEY) are required")
	}
	var handler slog.Handler = slog.NewJSONHandler(os.Stderr, nil)
	if *logFormat == "text" {
		handler = slog.NewTextHandler(os.Stderr, nil)
	} else if *logFormat != "json" {
		return fmt.Errorf("-log-format: %q is not json or text", *logFormat)
	}
	logger := slog.New(handler)

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("-data-dir: %w", err)
	}
	store, err := mycloud.OpenStore(*dataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	srv := mycloud.NewServer(store, mycloud.Config{
		Credentials: map[string]string{*accessKey: *secretKey},
		AdminToken:  *adminToken,
		CreateDelay: *createDelay,
		Logger:      logger,
	})
	if *seedFile != "" {
		if err := seed(srv, *seedFile, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	logger.Info("mycloud listening", "addr", ln.Addr().String(), "data_dir", *dataDir,
		"access_key", *accessKey, "admin_api", *adminToken != "", "create_delay", createDelay.String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return httpSrv.Shutdown(shutdownCtx)
}

func seed(srv *mycloud.Server, path string, logger *slog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-seed: %w", err)
	}
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("-seed %s: %w", path, err)
	}
	var req mycloud.SeedRequest
	if err := json.Unmarshal(jsonData, &req); err != nil {
		return fmt.Errorf("-seed %s: must map kinds to lists of resources: %w", path, err)
	}
	created, err := srv.Seed(req, true)
	if err != nil {
		return fmt.Errorf("-seed %s: %w", path, err)
	}
	for kind, items := range created {
		for _, item := range items {
			logger.Info("seeded", "kind", kind, "id", item["id"], "name", item["name"])
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
