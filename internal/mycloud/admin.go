package mycloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
)

// Fault is an injected failure or delay on API calls whose method and path
// match. It fires with probability Rate (on every matching call when nil),
// drawing from its own generator seeded with Seed, so the n-th call it sees
// gets the same answer in every run; when Count is set it fires on the next
// Count matching calls only, then is Done and stays listed with its counters.
//
// Faults are tried in the order they were added and the first that fires
// answers the call: a fault counts in Matched only the calls no earlier
// fault fired on.
type Fault struct {
	ID                string   `json:"id"`
	Method            string   `json:"method,omitempty"`
	Path              string   `json:"path"`
	Status            int      `json:"status,omitempty"`
	RetryAfterSeconds int      `json:"retry_after_seconds,omitempty"`
	LatencyMS         int      `json:"latency_ms,omitempty"`
	Rate              *float64 `json:"rate,omitempty"`
	// Seed seeds the draws of a Rate below 1; mycloud picks one when it is
	// not given, and shows it, so a run can be repeated.
	Seed  int64 `json:"seed,omitempty"`
	Count int   `json:"count,omitempty"`
	// Matched counts the calls that matched Method and Path and reached
	// this fault; Hits those it fired on.
	Matched int  `json:"matched"`
	Hits    int  `json:"hits"`
	Done    bool `json:"done,omitempty"`

	rng *rand.Rand
}

// everyPath is the path prefix every API call has; a fault given the path
// "*" or none matches every call.
const everyPath = "/v1/"

func (f *Fault) validate() error {
	switch {
	case !strings.HasPrefix(f.Path, everyPath):
		return fieldError("path", "must be an API path prefix starting with /v1/, such as /v1/vpcs, or * for every call; got %q", f.Path)
	case f.Method != "" && f.Method != strings.ToUpper(f.Method):
		return fieldError("method", "must be an upper-case HTTP method such as POST")
	case f.Status != 0 && f.Status != http.StatusTooManyRequests && (f.Status < 500 || f.Status > 599):
		return fieldError("status", "must be 429 or 5xx, got %d", f.Status)
	case f.RetryAfterSeconds < 0 || f.RetryAfterSeconds > 3600:
		return fieldError("retry_after_seconds", "must be 0-3600")
	case f.LatencyMS < 0 || f.LatencyMS > 600000:
		return fieldError("latency_ms", "must be 0-600000")
	case f.Rate != nil && !(*f.Rate > 0 && *f.Rate <= 1):
		return fieldError("rate", "must be a probability above 0 and at most 1, such as 0.2; leave it out to fire on every matching call")
	case f.Seed < 0 || f.Seed > maxSeed:
		return fieldError("seed", "must be 1 to %d (JSON numbers above that lose digits)", int64(maxSeed))
	case f.Seed != 0 && (f.Rate == nil || *f.Rate == 1):
		return fieldError("seed", "only matters with a rate below 1")
	case f.Count < 0:
		return fieldError("count", "must not be negative")
	case f.Status == 0 && f.LatencyMS == 0:
		return fieldError("status", "or latency_ms must be set: a fault needs an effect")
	}
	return nil
}

// fires draws whether f fires on a call that matched it.
func (f *Fault) fires() bool {
	return f.rng == nil || f.rng.Float64() < *f.Rate
}

// matchFault returns the first fault that fires for r, counting the call in
// every fault it reached and the hit in the one that fired.
func (s *Server) matchFault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Done || (f.Method != "" && f.Method != r.Method) || !strings.HasPrefix(r.URL.Path, f.Path) {
			continue
		}
		f.Matched++
		if !f.fires() {
			continue
		}
		f.Hits++
		f.Done = f.Count > 0 && f.Hits >= f.Count
		hit := *f
		return &hit
	}
	return nil
}

// FaultList is what GET /admin/v1/faults answers: every fault added since
// the last DELETE, with its counters, and the calls they answered in all.
type FaultList struct {
	Items []Fault `json:"items"`
	// Injected counts the calls a fault fired on; a call is answered by at
	// most one fault.
	Injected int `json:"injected"`
}

func (s *Server) faultList() FaultList {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := FaultList{Items: make([]Fault, len(s.faults))}
	for i, f := range s.faults {
		out.Items[i] = *f
		out.Items[i].rng = nil
		out.Injected += f.Hits
	}
	return out
}

// SeedRequest lists resources to create as already available, in kind
// order, so later entries may refer to ids given to earlier ones.
type SeedRequest map[string][]map[string]any

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/admin/v1/"), "/")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := requireJSON(r, body); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case path == "seed" && r.Method == http.MethodPost:
		out, err := s.seed(body)
		respond(w, http.StatusCreated, out, err)
	case path == "reset" && r.Method == http.MethodPost:
		respond(w, http.StatusOK, map[string]string{"status": "reset"}, s.Reset())
	case path == "requests" && r.Method == http.MethodGet:
		s.mu.Lock()
		items := append([]RequestLogEntry{}, s.reqLog...)
		s.mu.Unlock()
		respond(w, http.StatusOK, map[string]any{"items": items}, nil)
	case path == "requests" && r.Method == http.MethodDelete:
		s.mu.Lock()
		s.reqLog = nil
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case path == "faults" && r.Method == http.MethodGet:
		respond(w, http.StatusOK, s.faultList(), nil)
	case path == "faults" && r.Method == http.MethodPost:
		f, err := s.addFault(body)
		respond(w, http.StatusCreated, f, err)
	case path == "faults" && r.Method == http.MethodDelete:
		s.mu.Lock()
		s.faults = nil
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case path == "access-keys" || strings.HasPrefix(path, "access-keys/"):
		s.serveAccessKeys(w, r, path, body)
	case strings.HasPrefix(path, "resources/") && r.Method == http.MethodPatch:
		parts := strings.Split(path, "/")
		if len(parts) != 3 || kinds[parts[1]] == nil {
			writeError(w, &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: "use PATCH /admin/v1/resources/<kind>/<id>"})
			return
		}
		out, err := s.EditOutOfBand(parts[1], parts[2], body)
		respond(w, http.StatusOK, out, err)
	default:
		writeError(w, &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("no admin endpoint %s %s", r.Method, r.URL.Path)})
	}
}

func respond(w http.ResponseWriter, status int, out any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, out)
}

func (s *Server) addFault(body []byte) (*Fault, error) {
	var f Fault
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Code: "InvalidParameter", Message: "fault: " + err.Error()}
	}
	if f.Path == "" || f.Path == "*" {
		f.Path = everyPath
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	if f.Rate != nil && *f.Rate < 1 {
		if f.Seed == 0 {
			f.Seed = 1 + rand.Int64N(maxSeed)
		}
		f.rng = rand.New(rand.NewPCG(uint64(f.Seed), faultStream))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	f.ID = fmt.Sprintf("fault-%d", s.nextID)
	f.Matched, f.Hits, f.Done = 0, 0, false
	s.faults = append(s.faults, &f)
	out := f
	out.rng = nil
	return &out, nil
}

// maxSeed is the largest seed: 2^53-1, the largest integer every JSON
// reader (a float64) keeps exactly.
const maxSeed = 1<<53 - 1

// faultStream is the second half of every fault generator's seed.
const faultStream = 0x6d79636c6f7564 // "mycloud"

// Seed creates pre-existing resources, validated like API calls but
// available at once. An entry may carry its own "id" (with the kind's
// prefix), so a seed file can refer to it. With skipExisting, an entry that
// already exists (same id, or same name when it has no id) is left as it is:
// a start-up seed file applied again after a restart. Otherwise a repeated id
// is a conflict.
func (s *Server) Seed(req SeedRequest, skipExisting bool) (map[string][]map[string]any, error) {
	for kindName := range req {
		if kinds[kindName] == nil {
			return nil, fieldError(kindName, "is not a kind; kinds are %s", strings.Join(Kinds, ", "))
		}
		if kinds[kindName].readOnly {
			return nil, fieldError(kindName, "cannot be seeded: the cloud makes a secret when it creates an instance with manage_admin_password or manage_password set to true; seed that instance instead")
		}
	}
	out := map[string][]map[string]any{}
	now := s.cfg.Now()
	err := s.store.Update(func(tx *Tx) error {
		for _, kindName := range Kinds {
			k := kinds[kindName]
			for i, entry := range req[kindName] {
				id, _ := entry["id"].(string)
				if skipExisting {
					exists, err := seededBefore(tx, k, id, entry["name"])
					if err != nil {
						return err
					}
					if exists {
						continue
					}
				}
				delete(entry, "id")
				body, _ := json.Marshal(entry)
				attrs, err := k.decodeAttrs(body)
				if err == nil {
					err = k.validate(attrs, true)
				}
				rec := &Record{Kind: k.name, ID: id, Attrs: attrs, CreatedAt: now, UpdatedAt: now, ReadyAt: now}
				if err == nil {
					err = s.checkRelations(tx, k, rec, scope{})
				}
				if err == nil && id == "" {
					rec.ID, err = newID(tx, k)
				}
				if err == nil && !strings.HasPrefix(id, k.idPrefix) && id != "" {
					err = fieldError("id", "must start with %q", k.idPrefix)
				}
				if err == nil && id != "" {
					if _, getErr := tx.Get(k.name, id); !errors.Is(getErr, errNotFound) {
						err = &APIError{Status: http.StatusConflict, Code: "Exists", Field: "id", Message: fmt.Sprintf("id %s already exists", id)}
					}
				}
				if err != nil {
					var apiErr *APIError
					if errors.As(err, &apiErr) {
						apiErr.Message = fmt.Sprintf("%s[%d]: %s", kindName, i, apiErr.Message)
					}
					return err
				}
				if err := insert(tx, k, rec); err != nil {
					return err
				}
				out[kindName] = append(out[kindName], rec.View(now))
			}
		}
		return nil
	})
	return out, err
}

// seededBefore reports whether a seed entry already exists: by id when it
// has one, else by name.
func seededBefore(tx *Tx, k *kind, id string, name any) (bool, error) {
	if id != "" {
		_, err := tx.Get(k.name, id)
		if errors.Is(err, errNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	recs, err := tx.List(k.name)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.Attrs["name"] == name {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) seed(body []byte) (any, error) {
	var req SeedRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Code: "MalformedJSON", Message: "seed body must map kinds to lists of resources: " + err.Error()}
	}
	return s.Seed(req, false)
}

// EditOutOfBand changes a resource the way someone in a cloud console
// would: any attribute but the id, immutable ones included, without the API's
// readiness rules. Values are still type-checked and validated. What no
// console can do is refused: editing a secret, turning password management
// on or off, setting a password the cloud manages.
func (s *Server) EditOutOfBand(kindName, id string, body []byte) (map[string]any, error) {
	k := kinds[kindName]
	if k.readOnly {
		return nil, &APIError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed", Message: fmt.Sprintf("%s cannot be edited, not even out of band: a secret changes only with its instance", kindName)}
	}
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
		rec, err = tx.Get(kindName, id)
		if errors.Is(err, errNotFound) {
			return notFound(k, id)
		}
		if err != nil {
			return err
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
		return tx.Put(rec)
	})
	if err != nil {
		return nil, err
	}
	return rec.View(now), nil
}

// Reset removes every resource, fault, request log entry and scoped access
// key: the keys mycloud was started with stay.
func (s *Server) Reset() error {
	s.mu.Lock()
	s.faults, s.reqLog = nil, nil
	s.mu.Unlock()
	return s.store.Update(func(tx *Tx) error { return tx.Reset() })
}
