package mycloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Idempotent creates, after the IETF draft "The Idempotency-Key HTTP Header
// Field" (draft-ietf-httpapi-idempotency-key-header), as AWS's ClientToken,
// GCP's requestId and Stripe's Idempotency-Key do it: a POST that carries a
// key the same access key used before, for the same kind and the same body,
// while the resource it created still exists, answers with that resource and
// creates nothing.
const (
	// HeaderIdempotencyKey is the request header of a create's key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on the answer to a replayed create.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// DefaultIdempotencyTTL is how long a key is kept.
	DefaultIdempotencyTTL = 24 * time.Hour
	// maxIdempotencyKey bounds a key's length.
	maxIdempotencyKey = 255
	// CodeIdempotencyKeyReused is the error code of a key sent again with
	// another body or kind.
	CodeIdempotencyKeyReused = "IdempotencyKeyReused"
)

// idempotencyEntry is what the store keeps per (access key, idempotency key).
type idempotencyEntry struct {
	Kind       string `json:"kind"`
	ResourceID string `json:"resource_id"`
	// Fingerprint is the hex SHA-256 of the create's attributes as decoded
	// and validated, so the same attributes in another JSON key order or
	// spacing are the same request.
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
}

// idempotencyKey reads and validates the Idempotency-Key header of r: empty
// when there is none. The draft makes the value a structured-field string
// ("..."); the bare token that Stripe and most clients send is the same key.
func idempotencyKey(r *http.Request) (string, *APIError) {
	values := r.Header.Values(HeaderIdempotencyKey)
	if len(values) == 0 {
		return "", nil
	}
	bad := func(why string) *APIError {
		return &APIError{Status: http.StatusBadRequest, Code: "InvalidIdempotencyKey", Field: HeaderIdempotencyKey,
			Message: HeaderIdempotencyKey + " header " + why + "; send one key of 1-255 printable ASCII characters, such as a UUID"}
	}
	if len(values) > 1 {
		return "", bad("is given more than once")
	}
	key, quoted := unquoteKey(values[0])
	if key == "" {
		return "", bad("is empty")
	}
	if len(key) > maxIdempotencyKey {
		return "", bad(fmt.Sprintf("is %d characters long", len(key)))
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c < 0x20 || c > 0x7e {
			return "", bad(fmt.Sprintf("has a character that is not printable ASCII at position %d", i+1))
		}
		if quoted && (c == '"' || c == '\\') {
			return "", bad("is a quoted string with a quote or backslash inside")
		}
	}
	return key, nil
}

// unquoteKey returns the key of a header value, without the quotes of the
// structured-field form.
func unquoteKey(v string) (key string, quoted bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1], true
	}
	return v, false
}

// fingerprint identifies a create's attributes. encoding/json writes map
// keys sorted, so equal attributes give equal fingerprints. A write-only
// password is part of it, hashed like the stored password (hashSecret).
func fingerprint(attrs map[string]any) string {
	data, _ := json.Marshal(attrs)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// replayOrReserve looks the key up in tx for a create of rec (kind k, body
// fingerprint fp) by the access key of sc. It returns the record to answer
// with when the create is a replay, an error when the key was used for
// something else, and nil, nil when the create goes ahead (no such key,
// expired, or its resource is gone).
func (s *Server) replayOrReserve(tx *Tx, k *kind, sc scope, key, fp string, now time.Time) (*Record, error) {
	prev, err := tx.idempotencyEntry(sc.accessKey, key)
	if err != nil || prev == nil || now.Sub(prev.CreatedAt) >= s.idempotencyTTL() {
		return nil, err
	}
	existing, err := tx.Get(prev.Kind, prev.ResourceID)
	if errors.Is(err, errNotFound) {
		return nil, nil // deleted since: the key is free again
	}
	if err != nil {
		return nil, err
	}
	if !sc.sees(existing) {
		// Moved out of the key's project since (only an unscoped key can
		// retag it): gone, as far as this key may know.
		return nil, nil
	}
	if prev.Kind != k.name || prev.Fingerprint != fp {
		what := "with different parameters"
		if prev.Kind != k.name {
			what = fmt.Sprintf("(%s, not %s)", prev.Kind, k.name)
		}
		return nil, &APIError{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused, ResourceID: existing.ID,
			Message: fmt.Sprintf("%s %q was used to create %s %s %s; import %s or delete it, or send another key",
				HeaderIdempotencyKey, key, prev.Kind, existing.ID, what, existing.ID)}
	}
	return existing, nil
}

func (s *Server) idempotencyTTL() time.Duration {
	if s.cfg.IdempotencyTTL > 0 {
		return s.cfg.IdempotencyTTL
	}
	return DefaultIdempotencyTTL
}

// pruneIdempotencyKeys removes expired keys, at most once an hour of the
// server's clock, inside the create transaction that stores a new key.
func (s *Server) pruneIdempotencyKeys(tx *Tx, now time.Time) error {
	s.mu.Lock()
	due := now.Sub(s.lastPrune) >= time.Hour
	if due {
		s.lastPrune = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	return tx.pruneIdempotencyEntries(now.Add(-s.idempotencyTTL()))
}

// idempotencyLogKey shortens a key for the request log and the access log:
// enough to match a replay with its original, bounded in length.
func idempotencyLogKey(header string) string {
	key, _ := unquoteKey(header)
	if len(key) > 64 {
		return key[:64] + "…"
	}
	return key
}
