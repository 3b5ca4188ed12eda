package mycloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Resource statuses.
const (
	StatusCreating  = "creating"
	StatusAvailable = "available"
)

// Record is one resource as the cloud keeps it.
type Record struct {
	Kind      string            `json:"kind"`
	ID        string            `json:"id"`
	Attrs     map[string]any    `json:"attrs"`
	Secrets   map[string]string `json:"secrets,omitempty"` // write-only attributes, hashed
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	ReadyAt   time.Time         `json:"ready_at"`
	// SecretValue is the value of a secret the cloud keeps (kind secrets),
	// in the clear: the one thing the cloud must hand back. Only GET
	// /v1/secrets/<id>/value returns it; View never does.
	SecretValue string `json:"secret_value,omitempty"`
}

// Status is creating until the record's creation delay has passed.
func (r *Record) Status(now time.Time) string {
	if now.Before(r.ReadyAt) {
		return StatusCreating
	}
	return StatusAvailable
}

// View is the record as the API returns it: attributes, id, status and
// timestamps; never a write-only attribute or a secret's value.
func (r *Record) View(now time.Time) map[string]any {
	out := make(map[string]any, len(r.Attrs)+4)
	for k, v := range r.Attrs {
		out[k] = v
	}
	out["id"] = r.ID
	out["status"] = r.Status(now)
	out["created_at"] = r.CreatedAt.UTC().Format(time.RFC3339Nano)
	out["updated_at"] = r.UpdatedAt.UTC().Format(time.RFC3339Nano)
	return out
}

// Store keeps records in a bbolt database: every write is a committed,
// fsynced transaction, so a resource the API reported created survives a
// restart or a kill -9.
type Store struct {
	db *bolt.DB
}

// OpenStore opens (creating if needed) the store in dir.
func OpenStore(dir string) (*Store, error) {
	db, err := bolt.Open(filepath.Join(dir, "mycloud.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w (is another mycloud using this data dir?)", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, k := range Kinds {
			if _, err := tx.CreateBucketIfNotExists([]byte(k)); err != nil {
				return err
			}
		}
		for _, b := range []string{idempotencyBucket, accessKeyBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Tx is a read or read-write transaction over the store.
type Tx struct{ tx *bolt.Tx }

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Update runs fn in a read-write transaction, committed only if fn succeeds.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

var errNotFound = errors.New("not found")

// Get returns the record kind/id or errNotFound.
func (t *Tx) Get(kindName, id string) (*Record, error) {
	b := t.tx.Bucket([]byte(kindName))
	if b == nil {
		return nil, errNotFound
	}
	data := b.Get([]byte(id))
	if data == nil {
		return nil, errNotFound
	}
	return decodeRecord(data)
}

// List returns every record of kind, ordered by creation time.
func (t *Tx) List(kindName string) ([]*Record, error) {
	b := t.tx.Bucket([]byte(kindName))
	if b == nil {
		return nil, nil
	}
	var out []*Record
	err := b.ForEach(func(_, data []byte) error {
		r, err := decodeRecord(data)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// Put writes r.
func (t *Tx) Put(r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return t.tx.Bucket([]byte(r.Kind)).Put([]byte(r.ID), data)
}

// Delete removes kind/id.
func (t *Tx) Delete(kindName, id string) error {
	return t.tx.Bucket([]byte(kindName)).Delete([]byte(id))
}

// Reset removes every record, idempotency key and scoped access key.
func (t *Tx) Reset() error {
	for _, k := range append([]string{idempotencyBucket, accessKeyBucket}, Kinds...) {
		if err := t.tx.DeleteBucket([]byte(k)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if _, err := t.tx.CreateBucket([]byte(k)); err != nil {
			return err
		}
	}
	return nil
}

// decodeRecord reads a stored record and restores the Go types of its
// attributes (JSON turns int64 into float64 and tag maps into map[string]any).
func decodeRecord(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("corrupt record: %w", err)
	}
	k := kinds[r.Kind]
	if m := k.managed; m != nil {
		if _, ok := r.Attrs[m.flag]; !ok {
			r.Attrs[m.flag] = false // stored before the cloud managed passwords
		}
	}
	for name, v := range r.Attrs {
		f, ok := k.fieldOf(name)
		typ := f.typ
		if !ok {
			if name != "port" {
				continue // computed strings
			}
			typ = typeInt
		}
		switch typ {
		case typeInt:
			if n, ok := v.(float64); ok {
				r.Attrs[name] = int64(n)
			}
		case typeTags:
			m := map[string]string{}
			if raw, ok := v.(map[string]any); ok {
				for tk, tv := range raw {
					m[tk], _ = tv.(string)
				}
			}
			r.Attrs[name] = m
		}
	}
	return &r, nil
}

// idempotencyBucket holds one nested bucket per access key, mapping its
// idempotency keys to idempotencyEntry JSON: tenants never see each other's
// keys, and a key survives a restart or kill -9 like the resource it made.
const idempotencyBucket = "idempotency-keys"

// idempotencyEntry returns what accessKey's key was used for, or nil.
func (t *Tx) idempotencyEntry(accessKey, key string) (*idempotencyEntry, error) {
	keys := t.tx.Bucket([]byte(idempotencyBucket)).Bucket([]byte(accessKey))
	if keys == nil {
		return nil, nil
	}
	data := keys.Get([]byte(key))
	if data == nil {
		return nil, nil
	}
	var e idempotencyEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("corrupt idempotency key entry: %w", err)
	}
	return &e, nil
}

// putIdempotencyEntry records what accessKey's key created.
func (t *Tx) putIdempotencyEntry(accessKey, key string, e idempotencyEntry) error {
	keys, err := t.tx.Bucket([]byte(idempotencyBucket)).CreateBucketIfNotExists([]byte(accessKey))
	if err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return keys.Put([]byte(key), data)
}

// pruneIdempotencyEntries removes the keys created before cutoff.
func (t *Tx) pruneIdempotencyEntries(cutoff time.Time) error {
	root := t.tx.Bucket([]byte(idempotencyBucket))
	return root.ForEachBucket(func(accessKey []byte) error {
		keys := root.Bucket(accessKey)
		var expired [][]byte
		err := keys.ForEach(func(k, v []byte) error {
			var e idempotencyEntry
			if json.Unmarshal(v, &e) != nil || e.CreatedAt.Before(cutoff) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := keys.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
