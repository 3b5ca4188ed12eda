package mycloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// AccessKey is a key pair scoped to one project, made by the admin API
// (POST /admin/v1/access-keys) and kept in the store, so it survives a
// restart. Its requests reach the records tagged project=<Project> and read
// the shared ones (see scope). The keys mycloud is started with
// (Config.Credentials) are not AccessKeys: they reach everything.
type AccessKey struct {
	AccessKey string `json:"access_key"`
	// SecretKey is shown once, in the answer that creates the key; a list
	// leaves it out.
	SecretKey string    `json:"secret_key,omitempty"`
	Project   string    `json:"project"`
	CreatedAt time.Time `json:"created_at"`
}

// AccessKeyList is what GET /admin/v1/access-keys answers.
type AccessKeyList struct {
	Items []AccessKey `json:"items"`
}

// accessKeyPrefix starts every scoped access key id, so a key in a log or a
// request log tells that it is scoped.
const accessKeyPrefix = "AKP"

// accessKeyBucket maps scoped access key ids to AccessKey JSON. The secret
// key is kept in the clear: verifying a signature needs it (a real cloud
// would encrypt it with a key of its own).
const accessKeyBucket = "access-keys"

// lookupKey returns the secret of the access key id and its project: empty
// for the keys mycloud was started with, which take precedence.
func (s *Server) lookupKey(id string) (secret, project string, ok bool) {
	if secret, ok := s.cfg.Credentials[id]; ok {
		return secret, "", true
	}
	var key *AccessKey
	err := s.store.View(func(tx *Tx) (err error) {
		key, err = tx.accessKey(id)
		return err
	})
	if err != nil {
		s.cfg.Logger.Error("look up access key", "access_key", id, "error", err)
		return "", "", false
	}
	if key == nil {
		return "", "", false
	}
	return key.SecretKey, key.Project, true
}

// createAccessKey makes a key pair for the project of the JSON body
// {"project": "..."}.
func (s *Server) createAccessKey(body []byte) (*AccessKey, error) {
	var req struct {
		Project *string `json:"project"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var typeErr *json.UnmarshalTypeError
	if err := dec.Decode(&req); errors.As(err, &typeErr) && typeErr.Field == "project" {
		return nil, fieldError("project", "must be a string, got a JSON %s", typeErr.Value)
	} else if err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Code: "MalformedJSON", Message: `access key: the body must be {"project": "<DNS label>"}: ` + err.Error()}
	}
	if req.Project == nil {
		return nil, fieldError("project", "is required: the project whose resources (tag project=<project>) the key reaches")
	}
	if err := rules.Project(*req.Project); err != nil {
		return nil, fieldError("project", "%s", err)
	}
	key := &AccessKey{Project: *req.Project, CreatedAt: s.cfg.Now().UTC()}
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate a secret key: %w", err)
	}
	key.SecretKey = hex.EncodeToString(secret)
	err := s.store.Update(func(tx *Tx) error {
		id, err := s.newAccessKeyID(tx)
		if err != nil {
			return err
		}
		key.AccessKey = id
		return tx.putAccessKey(key)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// newAccessKeyID draws an id that neither a scoped key nor a key given on
// the command line has.
func (s *Server) newAccessKeyID(tx *Tx) (string, error) {
	for range 10 {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		id := accessKeyPrefix + strings.ToUpper(hex.EncodeToString(b))
		if _, taken := s.cfg.Credentials[id]; taken {
			continue
		}
		if existing, err := tx.accessKey(id); err != nil || existing == nil {
			return id, err
		}
	}
	return "", errors.New("could not allocate a unique access key id")
}

// listAccessKeys returns the scoped keys, oldest first, without their
// secret keys.
func (s *Server) listAccessKeys() (AccessKeyList, error) {
	out := AccessKeyList{Items: []AccessKey{}}
	err := s.store.View(func(tx *Tx) error {
		keys, err := tx.accessKeys()
		for _, k := range keys {
			k.SecretKey = ""
			out.Items = append(out.Items, k)
		}
		return err
	})
	return out, err
}

// deleteAccessKey removes the scoped key id: its requests are refused from
// then on. The keys mycloud was started with are not the admin API's to
// delete.
func (s *Server) deleteAccessKey(id string) error {
	if _, ok := s.cfg.Credentials[id]; ok {
		return &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("access key %s was given to mycloud at start-up, not made by the admin API: restart mycloud without it instead", id)}
	}
	return s.store.Update(func(tx *Tx) error {
		key, err := tx.accessKey(id)
		if err != nil {
			return err
		}
		if key == nil {
			return &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("access key %s does not exist", id)}
		}
		return tx.deleteAccessKey(id)
	})
}

// serveAccessKeys answers the admin API's /admin/v1/access-keys[/<id>].
func (s *Server) serveAccessKeys(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	id, hasID := strings.CutPrefix(path, "access-keys/")
	switch {
	case path == "access-keys" && r.Method == http.MethodPost:
		key, err := s.createAccessKey(body)
		if err == nil {
			// The only answer that shows the secret key.
			w.Header().Set("Cache-Control", "no-store")
		}
		respond(w, http.StatusCreated, key, err)
	case path == "access-keys" && r.Method == http.MethodGet:
		list, err := s.listAccessKeys()
		respond(w, http.StatusOK, list, err)
	case hasID && id != "" && !strings.Contains(id, "/") && r.Method == http.MethodDelete:
		if err := s.deleteAccessKey(id); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, &APIError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf(
			"no admin endpoint %s %s: use POST or GET /admin/v1/access-keys, DELETE /admin/v1/access-keys/<id>", r.Method, r.URL.Path)})
	}
}

// accessKey returns the scoped key id, or nil.
func (t *Tx) accessKey(id string) (*AccessKey, error) {
	data := t.tx.Bucket([]byte(accessKeyBucket)).Get([]byte(id))
	if data == nil {
		return nil, nil
	}
	var k AccessKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("corrupt access key %s: %w", id, err)
	}
	return &k, nil
}

// accessKeys returns every scoped key, oldest first.
func (t *Tx) accessKeys() ([]AccessKey, error) {
	var out []AccessKey
	err := t.tx.Bucket([]byte(accessKeyBucket)).ForEach(func(id, data []byte) error {
		var k AccessKey
		if err := json.Unmarshal(data, &k); err != nil {
			return fmt.Errorf("corrupt access key %s: %w", id, err)
		}
		out = append(out, k)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].AccessKey < out[j].AccessKey
	})
	return out, err
}

func (t *Tx) putAccessKey(k *AccessKey) error {
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return t.tx.Bucket([]byte(accessKeyBucket)).Put([]byte(k.AccessKey), data)
}

func (t *Tx) deleteAccessKey(id string) error {
	return t.tx.Bucket([]byte(accessKeyBucket)).Delete([]byte(id))
}
