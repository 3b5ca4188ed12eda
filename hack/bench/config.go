package main

import (
	"os"
	"strconv"
	"strings"
)

// The credentials the bench gives mycloud and the Terraform it runs.
const (
	accessKey  = "bench-access-key"
	secretKey  = "bench-secret-key"
	adminToken = "bench-admin-token"
)

// mycloud listens on every interface, so the Job-pod baseline's pods reach
// it at the host IP; the bench and the step-runner reach it on loopback.
const (
	cloudPort = "18480"
	cloudAddr = "0.0.0.0:" + cloudPort
	cloudURL  = "http://127.0.0.1:" + cloudPort
)

// config is what the environment asks of the bench.
type config struct {
	runs  int // RUNS: runs per figure, of which the median counts
	fleet int // FLEET: targets of the fleet figure
	// only, from ONLY (comma-separated: single, jobpod, second, fleet,
	// shards, workflow, onboard, memory, schedule), runs just those figures; all
	// when empty.
	only map[string]bool
}

func configFromEnv() config {
	cfg := config{runs: envInt("RUNS", 5), fleet: envInt("FLEET", 200), only: map[string]bool{}}
	for _, f := range strings.Split(os.Getenv("ONLY"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			cfg.only[f] = true
		}
	}
	return cfg
}

func (cfg config) want(figure string) bool { return len(cfg.only) == 0 || cfg.only[figure] }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
