package mycloud

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// generatedPasswordLength is the length of a password the cloud generates:
// 32 characters of 62 is about 190 bits.
const generatedPasswordLength = 32

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// generatePassword returns a random password (crypto/rand) that meets the
// cloud's password policy, rules.Password.
func generatePassword() (string, error) {
	// Rejection sampling keeps every character equally likely: bytes at or
	// above the largest multiple of the alphabet's size are drawn again.
	limit := byte(256 - 256%len(passwordAlphabet))
	for range 10 {
		out := make([]byte, 0, generatedPasswordLength)
		buf := make([]byte, 64)
		for len(out) < generatedPasswordLength {
			if _, err := rand.Read(buf); err != nil {
				return "", fmt.Errorf("generate a password: %w", err)
			}
			for _, b := range buf {
				if b < limit && len(out) < generatedPasswordLength {
					out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
				}
			}
		}
		// A password without one of the three classes is rare (about 1 in
		// 10^4) and drawn again.
		if s := string(out); rules.Password(s) == nil {
			return s, nil
		}
	}
	return "", errors.New("could not generate a password that meets the password policy")
}

// newManagedSecret generates the password of owner (a record of kind k, its
// id assigned) and writes it as a secret owned by owner.
func newManagedSecret(tx *Tx, k *kind, owner *Record) (*Record, error) {
	value, err := generatePassword()
	if err != nil {
		return nil, err
	}
	sk := kinds[KindSecret]
	id, err := newID(tx, sk)
	if err != nil {
		return nil, err
	}
	secret := &Record{
		Kind: KindSecret, ID: id,
		Attrs:       map[string]any{"owner_kind": k.name, "owner_id": owner.ID, "owner_attribute": k.managed.password},
		SecretValue: value,
		CreatedAt:   owner.CreatedAt, UpdatedAt: owner.UpdatedAt, ReadyAt: owner.CreatedAt,
	}
	return secret, tx.Put(secret)
}

// deleteOwnedSecrets deletes the secrets owned by the record ownerID.
func deleteOwnedSecrets(tx *Tx, ownerID string) error {
	secrets, err := tx.List(KindSecret)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if s.Attrs["owner_id"] == ownerID {
			if err := tx.Delete(KindSecret, s.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// serveSecretValue answers GET /v1/secrets/<id>/value with {"value": ...}.
// Like every /v1 call, the request is signed. An unscoped key reads every
// secret; a project-scoped key only the secrets of instances it may change
// (scope.owns): the password of a shared instance is its owner's, and a
// secret of an instance it cannot see is missing. The value goes into this
// response body only: not into the request log, the access log or an error.
func (s *Server) serveSecretValue(w http.ResponseWriter, id string, sc scope) {
	var rec *Record
	err := s.store.View(func(tx *Tx) (err error) {
		rec, err = readable(tx, kinds[KindSecret], id, sc)
		if err != nil || !sc.scoped() {
			return err
		}
		owner, err := secretOwner(tx, rec)
		if err != nil {
			return err
		}
		if !sc.owns(owner) {
			return &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf(
				"the value of secret %s is not readable by access key %s: %s %s is shared (tag %s=true), so its password is read with the cloud's unscoped keys only",
				id, sc.accessKey, owner.Kind, owner.ID, TagShared)}
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"value": rec.SecretValue})
}
