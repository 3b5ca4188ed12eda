// Package client is the Go client of the mycloud API, used by the Terraform
// provider and by applications that read a password the cloud keeps
// (SecretValue): signed requests, retries with capped backoff on 429 (honouring
// Retry-After) and 5xx, and waiting for asynchronous creation, all stopping
// at once when the context is cancelled. Every create carries an
// Idempotency-Key that its retries repeat, so a retry after a lost answer
// never creates twice.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/auth"
)

// Client talks to one mycloud endpoint with one key pair.
type Client struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	HTTP      *http.Client
	// MaxAttempts bounds tries of one call on retryable errors (default 8).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between tries (default 200ms, 10s).
	MinBackoff, MaxBackoff time.Duration
}

// New returns a client with default retry settings.
func New(endpoint, accessKey, secretKey string) *Client {
	return &Client{
		Endpoint: strings.TrimRight(endpoint, "/"), AccessKey: accessKey, SecretKey: secretKey,
		HTTP:        &http.Client{Timeout: 60 * time.Second},
		MaxAttempts: 8, MinBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second,
	}
}

// Error is an error response of the API.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// ResourceID names the existing resource the error is about, such as
	// the one an idempotency key created (CodeIdempotencyKeyReused).
	ResourceID string `json:"resource_id,omitempty"`
}

// CodeIdempotencyKeyReused is the Code of the 422 that answers a create
// whose idempotency key made another resource (another kind or other
// attributes) that still exists; ResourceID names it.
const CodeIdempotencyKeyReused = "IdempotencyKeyReused"

// IsIdempotencyKeyReused reports whether err is that 422 and returns it.
func IsIdempotencyKeyReused(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e.Code == CodeIdempotencyKeyReused {
		return e, true
	}
	return nil, false
}

func (e *Error) Error() string {
	return fmt.Sprintf("mycloud API: %s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// IsNotFound reports whether err is a 404 of the API.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Object is a resource as the API returns it.
type Object map[string]any

// String returns the string attribute name, or "".
func (o Object) String(name string) string { s, _ := o[name].(string); return s }

// Int returns the integer attribute name, or 0.
func (o Object) Int(name string) int64 { f, _ := o[name].(float64); return int64(f) }

// Bool returns the boolean attribute name, or false.
func (o Object) Bool(name string) bool { b, _ := o[name].(bool); return b }

// Tags returns the tags attribute.
func (o Object) Tags() map[string]string {
	out := map[string]string{}
	if m, ok := o["tags"].(map[string]any); ok {
		for k, v := range m {
			out[k], _ = v.(string)
		}
	}
	return out
}

// Create creates a resource of kind and returns it (usually still creating).
// It sends a new random idempotency key, which its own retries repeat: a
// retry after a lost answer gets the resource the first try made.
func (c *Client) Create(ctx context.Context, kind string, attrs map[string]any) (Object, error) {
	key, err := NewIdempotencyKey()
	if err != nil {
		return nil, err
	}
	obj, _, err := c.CreateWithKey(ctx, kind, key, attrs)
	return obj, err
}

// CreateWithKey creates a resource of kind with the idempotency key key.
// When the cloud has a resource that key made from the same attributes, it
// answers with it and creates nothing: replayed is then true. When the key
// made another resource that still exists, the error is a 422 with Code
// CodeIdempotencyKeyReused naming it (see IsIdempotencyKeyReused).
func (c *Client) CreateWithKey(ctx context.Context, kind, key string, attrs map[string]any) (obj Object, replayed bool, err error) {
	// The draft's form is a structured-field string, "key"; a key that
	// cannot be one without escapes goes bare, which the cloud accepts too.
	hdr := http.Header{}
	if strings.ContainsAny(key, `"\`) {
		hdr.Set(headerIdempotencyKey, key)
	} else {
		hdr.Set(headerIdempotencyKey, `"`+key+`"`)
	}
	got, err := c.do(ctx, http.MethodPost, "/v1/"+kind, nil, hdr, attrs, &obj)
	if err != nil {
		return nil, false, err
	}
	return obj, got.Get(headerIdempotentReplayed) == "true", nil
}

// The headers of idempotent creates (IETF draft-ietf-httpapi-idempotency-key-header).
const (
	headerIdempotencyKey     = "Idempotency-Key"
	headerIdempotentReplayed = "Idempotent-Replayed"
)

// NewIdempotencyKey returns a random key (128 bits, hex).
func NewIdempotencyKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate an idempotency key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Get reads one resource.
func (c *Client) Get(ctx context.Context, kind, id string) (Object, error) {
	var out Object
	_, err := c.do(ctx, http.MethodGet, "/v1/"+kind+"/"+url.PathEscape(id), nil, nil, nil, &out)
	return out, err
}

// Update changes the given attributes of a resource.
func (c *Client) Update(ctx context.Context, kind, id string, attrs map[string]any) (Object, error) {
	var out Object
	_, err := c.do(ctx, http.MethodPatch, "/v1/"+kind+"/"+url.PathEscape(id), nil, nil, attrs, &out)
	return out, err
}

// Delete deletes a resource; deleting one that is gone is not an error.
func (c *Client) Delete(ctx context.Context, kind, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/"+kind+"/"+url.PathEscape(id), nil, nil, nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// List lists resources of kind matching filters (attribute=value, tag.<key>=value).
func (c *Client) List(ctx context.Context, kind string, filters url.Values) ([]Object, error) {
	var out struct {
		Items []Object `json:"items"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/"+kind, filters, nil, nil, &out)
	return out.Items, err
}

// SecretValue returns the value of a secret the cloud keeps: the password
// of a MySQL instance created with manage_admin_password (its
// admin_password_secret_id) or of a Redis instance created with
// manage_password (its password_secret_id). The caller must keep it out of
// logs, errors and Terraform state; no error of this method contains it.
func (c *Client) SecretValue(ctx context.Context, id string) (string, error) {
	var out struct {
		Value *string `json:"value"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/secrets/"+url.PathEscape(id)+"/value", nil, nil, nil, &out); err != nil {
		return "", err
	}
	if out.Value == nil {
		return "", fmt.Errorf("GET /v1/secrets/%s/value: the answer has no value", id)
	}
	return *out.Value, nil
}

// WaitAvailable polls a resource with backoff until its status is available.
func (c *Client) WaitAvailable(ctx context.Context, kind, id string) (Object, error) {
	wait := c.MinBackoff
	for {
		obj, err := c.Get(ctx, kind, id)
		if err != nil {
			return nil, err
		}
		if obj.String("status") == "available" {
			return obj, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("waiting for %s %s to become available: %w", kind, id, err)
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// do makes a call, retrying it on 429, 5xx and connection errors with the
// same body and headers (so a create repeats its idempotency key), and
// returns the answer's headers.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, hdr http.Header, in, out any) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	backoff := c.MinBackoff
	var lastErr error
	for attempt := 1; ; attempt++ {
		got, retryAfter, err := c.once(ctx, method, path, query, hdr, body, out)
		if err == nil {
			return got, nil
		}
		lastErr = err
		if !retryable(err) || attempt >= c.MaxAttempts {
			break
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, c.MaxBackoff)
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: %w (last error: %w)", method, path, err, lastErr)
		}
		backoff = min(backoff*2, c.MaxBackoff)
	}
	var apiErr *Error
	if errors.As(lastErr, &apiErr) && retryable(lastErr) {
		return nil, fmt.Errorf("%s %s: giving up after %d attempts: %w", method, path, c.MaxAttempts, lastErr)
	}
	return nil, lastErr
}

func (c *Client) once(ctx context.Context, method, path string, query url.Values, hdr http.Header, body []byte, out any) (http.Header, time.Duration, error) {
	u := c.Endpoint + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	auth.Sign(req, body, c.AccessKey, c.SecretKey, time.Now())
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, &transportError{err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, 0, &transportError{err}
	}
	if resp.StatusCode >= 300 {
		var wrapped struct {
			Error *Error `json:"error"`
		}
		apiErr := &Error{Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		if json.Unmarshal(data, &wrapped) == nil && wrapped.Error != nil {
			apiErr = wrapped.Error
		}
		apiErr.Status = resp.StatusCode
		var retryAfter time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			retryAfter = time.Duration(s) * time.Second
		}
		return nil, retryAfter, apiErr
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, 0, fmt.Errorf("decode response of %s %s: %w", method, path, err)
		}
	}
	return resp.Header, 0, nil
}

// transportError is a connection-level failure, retried like a 5xx.
type transportError struct{ err error }

func (e *transportError) Error() string { return "mycloud API unreachable: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500
	}
	var te *transportError
	return errors.As(err, &te)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
