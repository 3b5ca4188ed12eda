// Package mycloud is a simulated private cloud: an HTTP/JSON API over five
// resource kinds (VPCs, subnets, MySQL and Redis instances, buckets), and the
// secrets holding the database passwords it generates, kept in an embedded
// bbolt store, with the behaviour a Terraform provider must cope
// with (asynchronous creation, conflicts, validation errors naming the field,
// signed requests, access keys scoped to a project) and an admin API for
// tests: seeding pre-existing resources, out-of-band edits, fault injection,
// the request log, scoped access keys and reset.
package mycloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/auth"
)

// maxBody caps request bodies.
const maxBody = 1 << 20

// Config configures a Server.
type Config struct {
	// Credentials maps access key ids to secret keys.
	Credentials map[string]string
	// AdminToken guards /admin/v1; empty disables the admin API.
	AdminToken string
	// CreateDelay is how long a new resource stays "creating".
	CreateDelay time.Duration
	// Logger receives one structured line per request; never a secret.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// IdempotencyTTL is how long a create's Idempotency-Key is kept
	// (DefaultIdempotencyTTL when zero).
	IdempotencyTTL time.Duration
}

// Server serves the mycloud API.
type Server struct {
	cfg   Config
	store *Store
	mux   *http.ServeMux

	mu      sync.Mutex
	faults  []*Fault
	nextID  int
	reqLog  []RequestLogEntry
	logSize int
	// lastPrune is when expired idempotency keys were last removed.
	lastPrune time.Time
}

// APIError is an error response; Field names the offending input when there
// is one.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// ResourceID names the existing resource an error is about, such as the
	// one an Idempotency-Key created (CodeIdempotencyKeyReused).
	ResourceID string `json:"resource_id,omitempty"`
}

func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

func fieldError(name, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: "InvalidParameter", Field: name, Message: name + " " + fmt.Sprintf(format, args...)}
}

// RequestLogEntry is one API call as the request log keeps it.
type RequestLogEntry struct {
	Time       time.Time `json:"time"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query,omitempty"`
	Status     int       `json:"status"`
	AccessKey  string    `json:"access_key,omitempty"`
	DurationMS int64     `json:"duration_ms"`
	Fault      string    `json:"fault,omitempty"`
	// IdempotencyKey is the create's Idempotency-Key (its first 64
	// characters), and Replayed tells that the create answered with the
	// resource an earlier call with that key made, creating nothing.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Replayed       bool   `json:"replayed,omitempty"`
}

// StatusClientClosedRequest is what the request log records for a call
// whose client went away before any answer was written (nginx's 499): such a
// call changed nothing.
const StatusClientClosedRequest = 499

// NewServer returns a server over store.
func NewServer(store *Store, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, store: store, mux: http.NewServeMux(), logSize: 10000}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("/v1/", s.api(http.HandlerFunc(s.serveV1)))
	s.mux.Handle("/admin/v1/", s.admin(http.HandlerFunc(s.serveAdmin)))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusRecorder remembers the status code written; 0 while nothing was.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// api wraps /v1 handlers with fault injection, authentication, the request
// log and the access log.
func (s *Server) api(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.cfg.Now()
		rec := &statusRecorder{ResponseWriter: w}
		entry := RequestLogEntry{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
		if key := r.Header.Get(HeaderIdempotencyKey); key != "" && r.Method == http.MethodPost {
			entry.IdempotencyKey = idempotencyLogKey(key)
		}
		defer func() {
			entry.Status = rec.status
			if entry.Status == 0 {
				// Nothing answered: the client went away first (a
				// latency fault outlasted its patience or it was killed).
				entry.Status = StatusClientClosedRequest
			}
			entry.Replayed = rec.Header().Get(HeaderIdempotentReplayed) == "true"
			entry.DurationMS = time.Since(start).Milliseconds()
			s.record(entry)
			attrs := []any{"method", entry.Method, "path", entry.Path, "status", entry.Status,
				"access_key", entry.AccessKey, "duration_ms", entry.DurationMS, "fault", entry.Fault}
			if entry.IdempotencyKey != "" {
				attrs = append(attrs, "idempotency_key", entry.IdempotencyKey, "replayed", entry.Replayed)
			}
			s.cfg.Logger.Info("request", attrs...)
		}()

		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			writeError(rec, &APIError{Status: http.StatusRequestEntityTooLarge, Code: "BodyTooLarge", Message: "request body is larger than 1 MiB or unreadable"})
			return
		}
		var sc scope
		id, err := auth.Verify(r, body, func(k string) (string, bool) {
			secret, project, ok := s.lookupKey(k)
			sc = scope{accessKey: k, project: project}
			return secret, ok
		}, s.cfg.Now())
		entry.AccessKey = id
		if err != nil {
			writeError(rec, &APIError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: err.Error()})
			return
		}
		if err := requireJSON(r, body); err != nil {
			writeError(rec, err)
			return
		}
		if f := s.matchFault(r); f != nil {
			entry.Fault = f.ID
			if f.LatencyMS > 0 {
				select {
				case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
			if f.Status != 0 {
				if f.RetryAfterSeconds > 0 {
					rec.Header().Set("Retry-After", fmt.Sprint(f.RetryAfterSeconds))
				}
				writeError(rec, &APIError{Status: f.Status, Code: "InjectedFault", Message: fmt.Sprintf("fault %s injected by the admin API", f.ID)})
				return
			}
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		next.ServeHTTP(rec, r.WithContext(withScope(r.Context(), sc)))
	})
}

// admin wraps /admin/v1 handlers with the admin token check.
func (s *Server) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			writeError(w, &APIError{Status: http.StatusNotFound, Code: "AdminDisabled", Message: "the admin API is disabled: start mycloud with an admin token"})
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+s.cfg.AdminToken {
			writeError(w, &APIError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "admin API needs 'Authorization: Bearer <admin token>'"})
			return
		}
		s.cfg.Logger.Info("admin request", "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

// requireJSON rejects a POST, PUT or PATCH whose body is not declared as
// JSON. A call without a body (POST /admin/v1/reset) needs no Content-Type.
func requireJSON(r *http.Request, body []byte) *APIError {
	if len(body) == 0 || (r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch) {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	got := "no Content-Type header"
	if ct != "" {
		got = fmt.Sprintf("Content-Type %q", ct)
	}
	return &APIError{Status: http.StatusUnsupportedMediaType, Code: "UnsupportedMediaType",
		Message: fmt.Sprintf("%s %s: the body must be JSON sent with the header 'Content-Type: application/json', got %s", r.Method, r.URL.Path, got)}
}

func (s *Server) record(e RequestLogEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqLog = append(s.reqLog, e)
	if len(s.reqLog) > s.logSize {
		s.reqLog = s.reqLog[len(s.reqLog)-s.logSize:]
	}
}

func (s *Server) serveV1(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/"), "/"), "/")
	k, ok := kinds[parts[0]]
	sc := scopeOf(r.Context())
	if len(parts) == 3 && k != nil && k.name == KindSecret && parts[2] == "value" && r.Method == http.MethodGet {
		s.serveSecretValue(w, parts[1], sc)
		return
	}
	if !ok || len(parts) > 2 {
		writeError(w, &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("no such API path %s; kinds are %s", r.URL.Path, strings.Join(Kinds, ", "))})
		return
	}
	var (
		status = http.StatusOK
		out    any
		err    error
	)
	body, _ := io.ReadAll(r.Body)
	switch {
	case k.readOnly && r.Method != http.MethodGet:
		err = &APIError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed", Message: fmt.Sprintf(
			"%s is not allowed on %s: the cloud makes a secret when it creates an instance with manage_admin_password or manage_password set to true, and deletes it with that instance", r.Method, r.URL.Path)}
	case len(parts) == 1 && r.Method == http.MethodGet:
		out, err = s.list(k, r.URL.Query(), sc)
	case len(parts) == 1 && r.Method == http.MethodPost:
		key, keyErr := idempotencyKey(r)
		if keyErr != nil {
			err = keyErr
			break
		}
		var replayed bool
		out, replayed, err = s.create(k, body, sc, key)
		// A replay answers as the original did, 201 with the resource
		// (as it is now), marked as a replay.
		status = http.StatusCreated
		if replayed {
			w.Header().Set(HeaderIdempotentReplayed, "true")
		}
	case len(parts) == 2 && r.Method == http.MethodGet:
		out, err = s.get(k, parts[1], sc)
	case len(parts) == 2 && r.Method == http.MethodPatch:
		out, err = s.update(k, parts[1], body, sc)
	case len(parts) == 2 && r.Method == http.MethodDelete:
		err = s.delete(k, parts[1], sc)
		status = http.StatusNoContent
	default:
		err = &APIError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed", Message: r.Method + " is not allowed on " + r.URL.Path}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, out)
}

// paramNamePrefix is the list filter on the start of a record's name.
const paramNamePrefix = "name_prefix"

// list answers the records of kind k that sc can read and that match every
// filter of q: ?<string field>=v, ?tag.<key>=v and ?name_prefix=p. A
// filter given twice must match twice.
func (s *Server) list(k *kind, q url.Values, sc scope) (any, error) {
	for param, values := range q {
		switch {
		case strings.HasPrefix(param, "tag."):
		case param == paramNamePrefix:
			if err := checkNamePrefix(k, values); err != nil {
				return nil, err
			}
		default:
			if f, ok := k.fieldOf(param); !ok || f.typ != typeString || f.writeOnly {
				return nil, &APIError{Status: http.StatusBadRequest, Code: "InvalidParameter", Field: param, Message: fmt.Sprintf("query parameter %s is not a filter of %s: use a string field, tag.<key> or %s", param, k.name, paramNamePrefix)}
			}
		}
	}
	var items []map[string]any
	now := s.cfg.Now()
	err := s.store.View(func(tx *Tx) error {
		recs, err := tx.List(k.name)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if !matches(rec, q) {
				continue
			}
			visible, err := sc.canRead(tx, rec)
			if err != nil {
				return err
			}
			if visible {
				items = append(items, rec.View(now))
			}
		}
		return nil
	})
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{"items": items}, err
}

// checkNamePrefix refuses a name_prefix no name of k can start with: it
// would match nothing, and the caller would not learn why.
func checkNamePrefix(k *kind, values []string) error {
	if k.namePrefix == nil {
		return fieldError(paramNamePrefix, "is not a filter of %s: they have no name", k.name)
	}
	for _, p := range values {
		if err := k.namePrefix(p); err != nil {
			return fieldError(paramNamePrefix, "%s", err)
		}
	}
	return nil
}

func matches(rec *Record, q url.Values) bool {
	for param, values := range q {
		for _, want := range values {
			if key, ok := strings.CutPrefix(param, "tag."); ok {
				if got, ok := recordTags(rec)[key]; !ok || got != want {
					return false
				}
			} else if param == paramNamePrefix {
				if name, _ := rec.Attrs["name"].(string); !strings.HasPrefix(name, want) {
					return false
				}
			} else if rec.Attrs[param] != want {
				return false
			}
		}
	}
	return true
}

func (s *Server) get(k *kind, id string, sc scope) (any, error) {
	var rec *Record
	err := s.store.View(func(tx *Tx) (err error) {
		rec, err = readable(tx, k, id, sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec.View(s.cfg.Now()), nil
}

// readable returns the record k/id if sc can read it, else the error of a
// missing record: a scoped key cannot tell another project's id from one
// that does not exist.
func readable(tx *Tx, k *kind, id string, sc scope) (*Record, error) {
	rec, err := tx.Get(k.name, id)
	if errors.Is(err, errNotFound) {
		return nil, notFound(k, id)
	}
	if err != nil {
		return nil, err
	}
	visible, err := sc.canRead(tx, rec)
	if err != nil {
		return nil, err
	}
	if !visible {
		return nil, notFound(k, id)
	}
	return rec, nil
}

func notFound(k *kind, id string) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("%s %s does not exist", k.name, id)}
}

// create makes a resource of kind k for the access key of sc. With an
// idempotency key (idemKey) it is a replay when the access key made a
// resource of this kind from the same attributes that still exists: the
// answer is that resource, and replayed is true. The lookup, the create and
// the key are one transaction, so concurrent calls with one key create once.
func (s *Server) create(k *kind, body []byte, sc scope, idemKey string) (view map[string]any, replayed bool, err error) {
	attrs, err := k.decodeAttrs(body)
	if err != nil {
		return nil, false, err
	}
	if err := k.validate(attrs, true); err != nil {
		return nil, false, err
	}
	tags, _ := attrs["tags"].(map[string]string)
	if err := sc.checkTags(tags, true); err != nil {
		return nil, false, err
	}
	fp := fingerprint(attrs)
	now := s.cfg.Now()
	rec := &Record{Kind: k.name, Attrs: attrs, CreatedAt: now, UpdatedAt: now, ReadyAt: now.Add(s.cfg.CreateDelay)}
	err = s.store.Update(func(tx *Tx) error {
		if idemKey != "" {
			prev, err := s.replayOrReserve(tx, k, sc, idemKey, fp, now)
			if err != nil {
				return err
			}
			if prev != nil {
				rec, replayed = prev, true
				return nil
			}
		}
		if err := s.checkRelations(tx, k, rec, sc); err != nil {
			return err
		}
		id, err := newID(tx, k)
		if err != nil {
			return err
		}
		rec.ID = id
		if err := insert(tx, k, rec); err != nil {
			return err
		}
		if idemKey == "" {
			return nil
		}
		if err := s.pruneIdempotencyKeys(tx, now); err != nil {
			return err
		}
		return tx.putIdempotencyEntry(sc.accessKey, idemKey, idempotencyEntry{Kind: k.name, ResourceID: rec.ID, Fingerprint: fp, CreatedAt: now})
	})
	if err != nil {
		return nil, false, err
	}
	return rec.View(now), replayed, nil
}

// insert writes a new record: write-only attributes hashed, the managed
// password generated and kept as a secret, computed attributes filled.
func insert(tx *Tx, k *kind, rec *Record) error {
	moveSecrets(k, rec)
	if m := k.managed; m != nil && rec.Attrs[m.flag] == true {
		secret, err := newManagedSecret(tx, k, rec)
		if err != nil {
			return err
		}
		rec.Attrs[m.secretID] = secret.ID
	}
	if k.computed != nil {
		k.computed(rec)
	}
	return tx.Put(rec)
}

// moveSecrets replaces write-only attributes by their hashes in rec.Secrets.
func moveSecrets(k *kind, rec *Record) {
	for _, f := range k.fields {
		if v, ok := rec.Attrs[f.name]; ok && f.writeOnly {
			if rec.Secrets == nil {
				rec.Secrets = map[string]string{}
			}
			rec.Secrets[f.name] = hashSecret(v.(string))
			delete(rec.Attrs, f.name)
		}
	}
}

func newID(tx *Tx, k *kind) (string, error) {
	for range 10 {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		id := k.idPrefix + hex.EncodeToString(b)
		if _, err := tx.Get(k.name, id); errors.Is(err, errNotFound) {
			return id, nil
		}
	}
	return "", errors.New("could not allocate a unique id")
}

// checkRelations enforces what spans records: the parent exists and sc can
// see it (a project's records or shared ones), a subnet's CIDR lies inside
// its VPC's and overlaps no sibling, bucket names are unique. A conflicting
// record sc cannot see is described without its id.
func (s *Server) checkRelations(tx *Tx, k *kind, rec *Record, sc scope) error {
	if k.parentField != "" {
		parentID, _ := rec.Attrs[k.parentField].(string)
		parent, err := tx.Get(k.parentKind, parentID)
		if errors.Is(err, errNotFound) || (err == nil && !sc.sees(parent)) {
			return fieldError(k.parentField, "refers to %s %q, which does not exist", k.parentKind, parentID)
		}
		if err != nil {
			return err
		}
		if k.name == KindSubnet {
			if err := checkSubnetInVPC(tx, rec, parent, sc); err != nil {
				return err
			}
		}
	}
	if k.uniqueName {
		others, err := tx.List(k.name)
		if err != nil {
			return err
		}
		for _, o := range others {
			if o.ID != rec.ID && o.Attrs["name"] == rec.Attrs["name"] {
				return &APIError{Status: http.StatusConflict, Code: "NameTaken", Field: "name", Message: fmt.Sprintf("name %q is already used by %s; bucket names are unique in the cloud", rec.Attrs["name"], describeFor(sc, k.name, o))}
			}
		}
	}
	return nil
}

// describeFor names rec, of kind kindName, in an error to sc: by id when
// sc can see it, else only as another project's.
func describeFor(sc scope, kindName string, rec *Record) string {
	singular := strings.TrimSuffix(kindName, "s")
	if sc.sees(rec) {
		return singular + " " + rec.ID
	}
	return "a " + singular + " of another project"
}

func checkSubnetInVPC(tx *Tx, subnet, vpc *Record, sc scope) error {
	cidr := netip.MustParsePrefix(subnet.Attrs["cidr"].(string))
	vpcCIDR := netip.MustParsePrefix(vpc.Attrs["cidr"].(string))
	if !vpcCIDR.Contains(cidr.Addr()) || cidr.Bits() < vpcCIDR.Bits() {
		return fieldError("cidr", "%s is not inside the CIDR %s of %s", cidr, vpcCIDR, vpc.ID)
	}
	siblings, err := tx.List(KindSubnet)
	if err != nil {
		return err
	}
	for _, o := range siblings {
		if o.ID == subnet.ID || o.Attrs["vpc_id"] != vpc.ID {
			continue
		}
		if other := netip.MustParsePrefix(o.Attrs["cidr"].(string)); other.Overlaps(cidr) {
			return &APIError{Status: http.StatusConflict, Code: "CIDROverlap", Field: "cidr", Message: fmt.Sprintf("cidr %s overlaps %s of %s", cidr, other, describeFor(sc, KindSubnet, o))}
		}
	}
	return nil
}

func (s *Server) update(k *kind, id string, body []byte, sc scope) (any, error) {
	attrs, err := k.decodeAttrs(body)
	if err != nil {
		return nil, err
	}
	if err := k.validate(attrs, false); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var rec *Record
	err = s.store.Update(func(tx *Tx) error {
		rec, err = readable(tx, k, id, sc)
		if err != nil {
			return err
		}
		if err := sc.checkChange(k, rec); err != nil {
			return err
		}
		tags, _ := attrs["tags"].(map[string]string)
		if err := sc.checkTags(tags, false); err != nil {
			return err
		}
		if rec.Status(now) != StatusAvailable {
			return &APIError{Status: http.StatusConflict, Code: "NotReady", Message: fmt.Sprintf("%s %s is still %s; retry when it is available", k.name, id, rec.Status(now))}
		}
		for name, v := range attrs {
			f, _ := k.fieldOf(name)
			if f.immutable && !sameValue(rec.Attrs[name], v) {
				return fieldError(name, "cannot be changed after creation (it is %v); create a new resource instead", rec.Attrs[name])
			}
		}
		if k.managed != nil {
			if err := k.managed.checkChange(rec, attrs); err != nil {
				return err
			}
		}
		for name, v := range attrs {
			rec.Attrs[name] = v
		}
		moveSecrets(k, rec)
		rec.UpdatedAt = now
		if k.uniqueName {
			if err := s.checkRelations(tx, k, rec, sc); err != nil {
				return err
			}
		}
		return tx.Put(rec)
	})
	if err != nil {
		return nil, err
	}
	return rec.View(now), nil
}

func sameValue(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// dependents lists, for each kind, the kinds whose records refer to it.
var dependents = map[string][]string{KindVPC: {KindSubnet}, KindSubnet: {KindMySQL, KindRedis}}

func (s *Server) delete(k *kind, id string, sc scope) error {
	return s.store.Update(func(tx *Tx) error {
		rec, err := readable(tx, k, id, sc)
		if err != nil {
			return err
		}
		if err := sc.checkChange(k, rec); err != nil {
			return err
		}
		for _, depKind := range dependents[k.name] {
			deps, err := tx.List(depKind)
			if err != nil {
				return err
			}
			for _, d := range deps {
				if d.Attrs[kinds[depKind].parentField] == id {
					return &APIError{Status: http.StatusConflict, Code: "DependencyViolation", Message: fmt.Sprintf("%s %s still has %s; delete it first", k.name, id, describeFor(sc, depKind, d))}
				}
			}
		}
		if k.managed != nil {
			if err := deleteOwnedSecrets(tx, id); err != nil {
				return err
			}
		}
		return tx.Delete(k.name, id)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		apiErr = &APIError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()}
	}
	writeJSON(w, apiErr.Status, map[string]any{"error": apiErr})
}
