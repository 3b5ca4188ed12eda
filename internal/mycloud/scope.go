package mycloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Tags that decide what a project-scoped access key reaches.
const (
	// TagProject names the project a record belongs to: a key scoped to
	// that project reads and changes it, and every record such a key creates
	// carries it.
	TagProject = "project"
	// TagShared set to "true" makes a record readable by every scoped key
	// (a shared VPC that every project puts its subnets in) and changeable
	// by the unscoped keys only.
	TagShared = "shared"
)

// CodeForbidden is the error code of a call a scoped access key may not
// make on a record it can see.
const CodeForbidden = "Forbidden"

// scope is what the access key of a request reaches. The keys mycloud was
// started with (Config.Credentials) are unscoped: project is empty and they
// reach every record. A key made by the admin API is scoped to one project.
//
// A record the key cannot see answers exactly as a missing one does (404,
// or the parent-not-found error of a create), so a key learns nothing of
// other projects, not even that an id exists.
type scope struct {
	accessKey string
	project   string
}

func (sc scope) scoped() bool { return sc.project != "" }

// sees reports whether the key may read rec (get, list) and use it as the
// parent of a record it creates: its project's records and shared ones.
// Secrets have no tags; canRead judges them by their owner.
func (sc scope) sees(rec *Record) bool {
	if !sc.scoped() {
		return true
	}
	tags := recordTags(rec)
	return tags[TagProject] == sc.project || tags[TagShared] == "true"
}

// owns reports whether the key may change rec (patch, delete) or read the
// value of its managed password: its project's records that are not shared.
func (sc scope) owns(rec *Record) bool {
	if !sc.scoped() {
		return true
	}
	tags := recordTags(rec)
	return tags[TagProject] == sc.project && tags[TagShared] != "true"
}

func recordTags(rec *Record) map[string]string {
	tags, _ := rec.Attrs["tags"].(map[string]string)
	return tags
}

// canRead is sees for a record of any kind: a secret is as visible as the
// instance that owns it.
func (sc scope) canRead(tx *Tx, rec *Record) (bool, error) {
	if !sc.scoped() {
		return true, nil
	}
	if rec.Kind != KindSecret {
		return sc.sees(rec), nil
	}
	owner, err := secretOwner(tx, rec)
	if owner == nil || err != nil {
		return false, err
	}
	return sc.sees(owner), nil
}

// secretOwner returns the instance that owns secret, nil when it is gone.
func secretOwner(tx *Tx, secret *Record) (*Record, error) {
	ownerKind, _ := secret.Attrs["owner_kind"].(string)
	ownerID, _ := secret.Attrs["owner_id"].(string)
	owner, err := tx.Get(ownerKind, ownerID)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	return owner, err
}

// checkChange refuses a patch or delete of rec, which the key can see: a
// shared record is changed by the unscoped keys only.
func (sc scope) checkChange(k *kind, rec *Record) error {
	if sc.owns(rec) {
		return nil
	}
	return &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf(
		"%s %s is shared (tag %s=true): access key %s, scoped to project %q, may read it and create in it but not change or delete it; ask whoever runs the cloud",
		k.name, rec.ID, TagShared, sc.accessKey, sc.project)}
}

// checkTags refuses tags a scoped key may not give a record it creates
// (create) or changes: the record must stay in the key's project, and only
// the unscoped keys share records. tags is nil when a patch leaves the
// tags as they are.
func (sc scope) checkTags(tags map[string]string, create bool) error {
	if !sc.scoped() {
		return nil
	}
	field := "tags." + TagProject
	project, ok := tags[TagProject]
	switch {
	case tags == nil && !create:
		// The patch keeps the record's tags.
	case !ok && create:
		return sc.forbidden(field, "is not set: access key %s is scoped to project %q, so whatever it creates must carry it; set tags.%s = %q",
			sc.accessKey, sc.project, TagProject, sc.project)
	case !ok:
		return sc.forbidden(field, "cannot be removed by access key %s, which is scoped to project %q; keep tags.%s = %q in the tags you send",
			sc.accessKey, sc.project, TagProject, sc.project)
	case project != sc.project && create:
		return sc.forbidden(field, "is %q, but access key %s is scoped to project %q; set tags.%s = %q",
			project, sc.accessKey, sc.project, TagProject, sc.project)
	case project != sc.project:
		return sc.forbidden(field, "cannot be changed to %q by access key %s, which is scoped to project %q; keep tags.%s = %q in the tags you send",
			project, sc.accessKey, sc.project, TagProject, sc.project)
	}
	// A record a scoped key shared could no longer be changed by that key
	// (see owns): sharing is for whoever runs the cloud.
	if tags[TagShared] == "true" {
		return sc.forbidden("tags."+TagShared, "cannot be \"true\" on what access key %s (scoped to project %q) creates or changes: only the cloud's unscoped keys share a resource; leave tags.%s out",
			sc.accessKey, sc.project, TagShared)
	}
	return nil
}

func (sc scope) forbidden(field, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Field: field, Message: field + " " + fmt.Sprintf(format, args...)}
}

// scopeContext carries the scope of a verified request.
type scopeContext struct{}

func withScope(ctx context.Context, sc scope) context.Context {
	return context.WithValue(ctx, scopeContext{}, sc)
}

func scopeOf(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeContext{}).(scope)
	return sc
}
