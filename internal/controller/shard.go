package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// KubeVela's sharding label and master shard (github.com/kubevela/pkg
// controller/sharding: LabelKubeVelaScheduledShardID, MasterShardID),
// written here rather than imported: that package's scheduler would bring
// kubectl into the step-runner for two constants.
const (
	// LabelScheduledShard names the shard an object is scheduled to.
	LabelScheduledShard = "controller.core.oam.dev/scheduled-shard-id"
	masterShard         = "master"
)

// Shard is the part of the step-run objects one step-runner replica serves,
// by KubeVela's controller sharding (github.com/kubevela/pkg
// controller/sharding): an object belongs to the shard named by its label
// controller.core.oam.dev/scheduled-shard-id, which the workflow steps copy
// from the Application whose workflow created it (vela-core copies the
// Application's labels onto trait outputs, such as drift-detection's
// InfraDrift, itself). As in KubeVela, objects without the label belong to
// the master shard; so do objects labeled with an id no replica serves,
// which would otherwise wait for ever.
type Shard struct {
	// Enabled: serve one shard; else every object, as without sharding.
	Enabled bool
	// ID is the shard served: master or one of Shards.
	ID string
	// Shards are the ids besides master that objects may be scheduled to
	// (every replica is given the same list: master serves what is not
	// scheduled to one of them).
	Shards []string
}

// Validate refuses a shard id that is not a label value, a duplicate, and a
// replica started with an id the list does not have: its objects would be
// served by master as well.
func (s Shard) Validate() error {
	if !s.Enabled {
		if s.ID != "" && s.ID != masterShard || len(s.Shards) > 0 {
			return fmt.Errorf("--shard-id and --schedulable-shards need --enable-sharding")
		}
		return nil
	}
	seen := map[string]bool{}
	for _, id := range s.Shards {
		if errs := validation.IsDNS1123Label(id); len(errs) > 0 {
			return fmt.Errorf("--schedulable-shards: shard id %q: %s", id, strings.Join(errs, "; "))
		}
		if seen[id] {
			return fmt.Errorf("--schedulable-shards: shard id %q is listed twice", id)
		}
		seen[id] = true
	}
	if s.ID == masterShard {
		return nil
	}
	if !seen[s.ID] {
		return fmt.Errorf("--shard-id %q is unknown: --schedulable-shards lists %s (and master serves every object not scheduled to one of those, so a replica of another id would run them twice)",
			s.ID, listOrNone(s.others()))
	}
	return nil
}

// others are the shard ids besides master.
func (s Shard) others() []string {
	return slices.DeleteFunc(slices.Clone(s.Shards), func(id string) bool { return id == masterShard })
}

// Master says whether this replica serves the master shard (also: serves
// every object, sharding off).
func (s Shard) Master() bool { return !s.Enabled || s.ID == masterShard }

// Name names the shard in messages.
func (s Shard) Name() string {
	if !s.Enabled {
		return "every object (sharding off)"
	}
	return "shard " + s.ID
}

// requirements select the objects of the shard: for master those not
// scheduled to another shard (unlabeled ones too), for another shard those
// scheduled to it. None without sharding.
func (s Shard) requirements() []labels.Requirement {
	if !s.Enabled {
		return nil
	}
	op, values := selection.Equals, []string{s.ID}
	if s.Master() {
		if values = s.others(); len(values) == 0 {
			return nil
		}
		op = selection.NotIn
	}
	req, err := labels.NewRequirement(LabelScheduledShard, op, values)
	if err != nil {
		panic(err) // ids are validated
	}
	return []labels.Requirement{*req}
}

// Selector selects the step-run objects of the shard (every one without
// sharding).
func (s Shard) Selector() labels.Selector {
	return labels.NewSelector().Add(s.requirements()...)
}

// LeaseName is the leader election Lease of the shard: base for master (and
// without sharding, as before), base-<id> for another shard, so that each
// shard elects its own leader.
func (s Shard) LeaseName(base string) string {
	if s.Master() {
		return base
	}
	return base + "-" + s.ID
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// servedObjects is the gauge vela_infra_served_objects{kind}: how many
// step-run objects of each kind this replica's cache holds, which with
// sharding are its shard's only. Counted when scraped.
type servedObjects struct {
	reader client.Reader
	scheme *runtime.Scheme
}

var servedObjectsDesc = prometheus.NewDesc("vela_infra_served_objects",
	"Step-run objects of each kind this replica serves: those of its shard, as its cache holds them.", []string{"kind"}, nil)

func (s servedObjects) Describe(ch chan<- *prometheus.Desc) { ch <- servedObjectsDesc }

func (s servedObjects) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, obj := range stepRunKinds() {
		gvk, err := apiutil.GVKForObject(obj, s.scheme)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(servedObjectsDesc, err)
			continue
		}
		list, err := s.scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err == nil {
			err = s.reader.List(ctx, list.(client.ObjectList))
		}
		if err != nil {
			ch <- prometheus.NewInvalidMetric(servedObjectsDesc, fmt.Errorf("list the %ss in the cache: %w", gvk.Kind, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(servedObjectsDesc, prometheus.GaugeValue, float64(meta.LenList(list)), gvk.Kind)
	}
}
