package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// EnvIdempotencyScope names the scope of the creates' idempotency keys. It
// is read from the environment only, never from the provider block: the
// process that runs Terraform for one state (the step-runner, per target)
// sets it, and a configuration must not be able to pick another state's
// scope and so adopt that state's resources.
const EnvIdempotencyScope = "MYCLOUD_IDEMPOTENCY_SCOPE"

// providerData is what the provider hands its resources.
type providerData struct {
	client *client.Client
	// scope is MYCLOUD_IDEMPOTENCY_SCOPE; empty: random keys.
	scope string

	mu sync.Mutex
	// keys maps the derived keys this provider process has created with to
	// the resource they were for, so that two resources of one type and
	// name in one apply fail instead of sharing one cloud resource.
	keys map[string]string
}

// idempotencyKey returns the key of a create of a resource of typeName
// (mycloud_vpc) named name. With a scope it is derived from (scope, type,
// name), so a run that repeats a create its predecessor made but never
// recorded (killed after the cloud answered) sends the same key and adopts
// that resource; without a scope, or without a name, it is random and
// protects only the client's own retries of the call.
func (p *providerData) idempotencyKey(typeName, name string) (key string, err error) {
	if p.scope == "" || name == "" {
		return client.NewIdempotencyKey()
	}
	sum := sha256.Sum256([]byte("mycloud-create/v1\x00" + p.scope + "\x00" + typeName + "\x00" + name))
	key = "tf-" + hex.EncodeToString(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys == nil {
		p.keys = map[string]string{}
	}
	if _, taken := p.keys[key]; taken {
		return "", fmt.Errorf("another %s in this configuration is named %q: with an idempotency scope (%s) every resource of a type needs its own name, or they would be one resource in the cloud; give them distinct names", typeName, name, EnvIdempotencyScope)
	}
	p.keys[key] = name
	return key, nil
}
