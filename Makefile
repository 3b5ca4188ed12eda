# vela-infra — see README.md. Every tool is built from the Go module proxy
# into bin/ by hack/build-tool.sh and cached by version outside the checkout.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN := $(CURDIR)/bin
# Modules missing from the checksum database: exactly these.
export GONOSUMDB := github.com/kmodules/apiserver-runtime
export KUBEBUILDER_ASSETS := $(BIN)
export TF_ACC_TERRAFORM_PATH := $(BIN)/terraform
export CHECKPOINT_DISABLE := 1

PROVIDER_VERSION := 0.1.0
MIRROR := $(BIN)/terraform-providers
PROVIDER_DIR := $(MIRROR)/registry.terraform.io/vela-infra/mycloud/$(PROVIDER_VERSION)/linux_amd64

TEST_TOOLS := etcd kube-apiserver terraform controller-gen helm vela vela-core staticcheck
CLUSTER_TOOLS := kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
KUBEVELA_TOOLS := vela vela-core terraform-controller
ALL_TOOLS := $(TEST_TOOLS) $(CLUSTER_TOOLS) $(KUBEVELA_TOOLS) controller-gen helm staticcheck

# Go test flags; override with `make test GOTEST_FLAGS=-v`.
GOTEST_FLAGS ?=

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Build every pinned tool into bin/ (cached by version).
	@start=$$(date +%s); for t in $(ALL_TOOLS); do ./hack/build-tool.sh $$t; done; \
	  echo "==> tools ready in $$(( $$(date +%s) - start ))s"

.PHONY: test-tools
test-tools: ## Build the tools `make test` needs.
	@for t in $(TEST_TOOLS); do ./hack/build-tool.sh $$t; done

.PHONY: build
build: ## Build the project's binaries into bin/.
	go build -o $(BIN)/mycloud ./cmd/mycloud
	go build -o $(BIN)/step-runner ./cmd/step-runner
	go build -ldflags "-X main.version=$(PROVIDER_VERSION)" -o $(PROVIDER_DIR)/terraform-provider-mycloud_v$(PROVIDER_VERSION) ./cmd/terraform-provider-mycloud
	@printf 'provider_installation {\n  filesystem_mirror {\n    path    = "%s"\n    include = ["registry.terraform.io/vela-infra/*"]\n  }\n  direct {\n    exclude = ["registry.terraform.io/vela-infra/*"]\n  }\n}\n' "$(MIRROR)" > $(BIN)/terraformrc
	@echo "==> bin/mycloud, bin/step-runner, provider mirror in bin/terraform-providers, CLI config bin/terraformrc"

.PHONY: cluster-deps
cluster-deps: ## Install containerd, runc, CNI plugins, iptables from Debian (once).
	@missing=""; for c in containerd runc iptables conntrack ip ldd; do command -v $$c >/dev/null || missing=1; done; \
	  [ -x /usr/lib/cni/bridge ] && [ -x /bin/busybox ] || missing=1; \
	  if [ -n "$$missing" ]; then echo "==> apt-get install containerd runc containernetworking-plugins iptables conntrack iproute2 busybox-static"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc containernetworking-plugins iptables conntrack iproute2 busybox-static >/dev/null; fi

.PHONY: cluster-tools
cluster-tools: ## Build the control-plane, node and platform binaries (cached by version).
	@for t in etcd kube-apiserver $(CLUSTER_TOOLS) helm vela vela-core terraform terraform-controller; do ./hack/build-tool.sh $$t; done

.PHONY: images
images: cluster-deps cluster-tools build ## Build the cluster's images into bin/images (unchanged images are kept).
	cd hack/images && go run . -bin $(BIN) -out $(BIN)/images

.PHONY: up
up: images ## Start the local cluster with vela-core and terraform-controller (idempotent).
	go run ./hack/cluster up

.PHONY: down
down: ## Stop the local cluster and remove its state (.cluster/).
	go run ./hack/cluster down

# What `make generate` writes (a directory: all it holds), each generated
# file in one place: deepcopy; CRDs and the step-runner's RBAC rules in the
# chart (controller-gen); the addons' generated files (definitions/gen,
# hack/addongen, hack/terraformaddon) and docs/components.md (definitions/gen);
# the chart's dashboard and alerts (hack/monitoring, a module of its own).
GENERATED := pkg/apis/infra/v1alpha1/zz_generated.deepcopy.go charts/vela-infra/crds charts/vela-infra/rbac addons docs/components.md charts/vela-infra/files

.PHONY: generate
generate: ## Regenerate every generated file (deepcopy, CRDs, RBAC rules, addon files, docs/components.md, dashboard and alerts).
	@./hack/build-tool.sh controller-gen
	$(BIN)/controller-gen object paths=./pkg/apis/...
	$(BIN)/controller-gen crd:maxDescLen=400 paths=./pkg/apis/... output:crd:artifacts:config=charts/vela-infra/crds
	$(BIN)/controller-gen rbac:roleName=vela-infra-step-runner paths=./internal/controller output:rbac:artifacts:config=charts/vela-infra/rbac
	go generate ./definitions
	go run ./hack/addongen
	go run ./hack/terraformaddon
	cd hack/monitoring && go run . -out ../../charts/vela-infra/files

# Each generated file's path and content hash (a symbolic link's target).
snapshot = { find $(GENERATED) \( -type f -o -type l \) 2>/dev/null || true; } | LC_ALL=C sort | while read -r f; do \
	  if [ -L "$$f" ]; then echo "$$f -> $$(readlink "$$f")"; else echo "$$f $$(sha256sum < "$$f")"; fi; done

.PHONY: verify
verify: ## Regenerate every generated file in place; fail with the list of those that were stale.
	@before=$$($(snapshot)); $(MAKE) -s generate > /dev/null; after=$$($(snapshot)); \
	  stale=$$({ diff <(echo "$$before") <(echo "$$after") || true; } | sed -n 's/^[<>] \([^ ]*\) .*/\1/p' | LC_ALL=C sort -u); \
	  if [ -n "$$stale" ]; then \
	    echo "Stale generated files, now regenerated by make generate (review and commit them; never edit them by hand):"; \
	    printf '  %s\n' $$stale; exit 1; fi; \
	  echo "==> generated files are current"

.PHONY: lint
lint: verify ## Generated files current (make verify); gofmt, go vet, staticcheck, cue fmt, terraform fmt, helm lint clean.
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(BIN)/staticcheck ./...
	@./hack/build-tool.sh cue
	@out=$$(git ls-files -co --exclude-standard '*.cue' | while read -r f; do [ ! -f "$$f" ] || echo "$$f"; done | xargs $(BIN)/cue fmt --check --files 2>&1) || \
	  { echo "cue fmt needed (bin/cue fmt --files <file>):"; echo "$$out"; exit 1; }
	TF_CLI_CONFIG_FILE=/dev/null $(BIN)/terraform fmt -check -recursive definitions/modules
	@./hack/build-tool.sh helm
	$(BIN)/helm lint --strict charts/vela-infra
	$(BIN)/helm lint --strict charts/vela-infra --set sharding.enabled=true --set 'sharding.shards={shard-1,shard-2}'
	$(BIN)/helm template vela-infra charts/vela-infra --set 'namespaces={default}' > /dev/null

.PHONY: test
test: test-tools images lint ## Unit, envtest, Terraform and local-cluster e2e tests against real parts (the CI command).
	go test -timeout 45m $(GOTEST_FLAGS) ./... 2>&1 | tee $(BIN)/test.log; exit $${PIPESTATUS[0]}

# Fuzz targets: package and target, run one after the other.
FUZZ_TARGETS := ./internal/plan:FuzzSummarize ./internal/hclguard:FuzzCheck ./internal/terraform:FuzzImportBlockID ./internal/mycloud:FuzzDecodeAttrs ./internal/controller:FuzzValidateImport
FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (30s); a crasher lands in the package's testdata/fuzz and becomes a regression test.
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; echo "==> $$fn ($$pkg, $(FUZZTIME))"; \
	  go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; done

.PHONY: vuln
vuln: ## govulncheck on the shipped binaries, offline (database built from golang.org/x/vulndb); fails on a reached vulnerability not in hack/vuln-accepted.txt.
	./hack/vuln.sh

.PHONY: e2e
e2e: test-tools images ## Only the end-to-end tests (envtest suite + local cluster), verbose.
	go test -timeout 45m -count=1 -v ./e2e/... 2>&1 | tee $(BIN)/e2e.log; exit $${PIPESTATUS[0]}

.PHONY: mycloud
mycloud: build ## Run mycloud in the foreground on 127.0.0.1:8480 (keys from the README).
	MYCLOUD_SECRET_KEY=demo-secret-key MYCLOUD_ADMIN_TOKEN=demo-admin-token \
	  $(BIN)/mycloud -addr 127.0.0.1:8480 -data-dir .demo/mycloud -access-key demo-access-key -log-format text

.PHONY: demo
demo: images ## On a fresh local cluster: import, provisioning, drift (on demand and declared), approval and shared infrastructure through vela on mycloud (KEEP=1 keeps it up).
	go run ./hack/demo

.PHONY: bench
bench: test-tools images ## Figures of what the steps cost beyond bare Terraform, with the Job-pod baseline on the local cluster, and 1,000 scheduled checks (RUNS=5 FLEET=200 ONLY= SHARD_TARGETS=1000 SCHEDULE_TARGETS=1000 SCHEDULE_INTERVAL=5m).
	go run ./hack/bench

.PHONY: clean
clean: ## Remove bin/ and demo state (the tool cache stays).
	rm -rf $(BIN) .demo
