// Package auth signs and verifies mycloud API requests.
//
// A request carries the caller's access key id, a timestamp and an
// HMAC-SHA256 signature over the method, path, query, timestamp and a hash of
// the body, keyed with the secret key. The secret itself never travels, so it
// cannot leak into a proxy log or the simulator's request log.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Header names of a signed request.
const (
	HeaderAccessKey = "X-Mycloud-Access-Key"
	HeaderDate      = "X-Mycloud-Date"
	HeaderSignature = "X-Mycloud-Signature"
)

// MaxSkew is how far a request's timestamp may be from the server's clock.
const MaxSkew = 5 * time.Minute

// Errors returned by Verify; none of them contains key material.
var (
	ErrMissing   = errors.New("request is not signed: set the access key and secret key")
	ErrUnknownID = errors.New("the access key is not known to this cloud")
	ErrSignature = errors.New("the request signature does not match: check the secret key")
	ErrSkew      = errors.New("the request timestamp is more than 5 minutes from the server clock")
)

// Sign adds the signature headers to req for a request whose body is body.
func Sign(req *http.Request, body []byte, accessKey, secretKey string, now time.Time) {
	date := now.UTC().Format(time.RFC3339)
	req.Header.Set(HeaderAccessKey, accessKey)
	req.Header.Set(HeaderDate, date)
	req.Header.Set(HeaderSignature, signature(secretKey, req.Method, req.URL.Path, req.URL.RawQuery, date, body))
}

// Verify checks the signature of req against the secret that lookup returns
// for its access key id, and returns the access key id.
func Verify(req *http.Request, body []byte, lookup func(accessKey string) (secret string, ok bool), now time.Time) (string, error) {
	id, date, sig := req.Header.Get(HeaderAccessKey), req.Header.Get(HeaderDate), req.Header.Get(HeaderSignature)
	if id == "" || date == "" || sig == "" {
		return "", ErrMissing
	}
	secret, ok := lookup(id)
	if !ok {
		return id, ErrUnknownID
	}
	t, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return id, fmt.Errorf("header %s: %q is not an RFC 3339 time", HeaderDate, date)
	}
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return id, ErrSkew
	}
	want := signature(secret, req.Method, req.URL.Path, req.URL.RawQuery, date, body)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		return id, ErrSignature
	}
	return id, nil
}

func signature(secret, method, path, query, date string, body []byte) string {
	sum := sha256.Sum256(body)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s\n%s\n%s\n%s\n%s", method, path, query, date, hex.EncodeToString(sum[:]))
	return hex.EncodeToString(mac.Sum(nil))
}
