package mycloud

import (
	"strings"
	"testing"

	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// TestGeneratePassword: every generated password meets the cloud's policy,
// has the documented length and alphabet, and none repeats.
func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		pw, err := generatePassword()
		if err != nil {
			t.Fatal(err)
		}
		if err := rules.Password(pw); err != nil {
			t.Fatalf("a generated password breaks the policy: %v", err)
		}
		if len(pw) != generatedPasswordLength || strings.Trim(pw, passwordAlphabet) != "" {
			t.Fatalf("a generated password of %d characters has characters outside the alphabet or the wrong length", len(pw))
		}
		if seen[pw] {
			t.Fatal("a generated password repeats")
		}
		seen[pw] = true
	}
}
