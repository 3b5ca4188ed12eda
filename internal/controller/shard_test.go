package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestShardValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		shard Shard
		want  string // "" valid, else a part of the error
	}{
		"off":                      {Shard{}, ""},
		"off, master named":        {Shard{ID: "master"}, ""},
		"off, shards listed":       {Shard{ID: "master", Shards: []string{"a"}}, "need --enable-sharding"},
		"master, no other":         {Shard{Enabled: true, ID: "master"}, ""},
		"master and two":           {Shard{Enabled: true, ID: "master", Shards: []string{"shard-1", "shard-2"}}, ""},
		"listed shard":             {Shard{Enabled: true, ID: "shard-2", Shards: []string{"shard-1", "shard-2"}}, ""},
		"unknown id":               {Shard{Enabled: true, ID: "shard-3", Shards: []string{"shard-1", "shard-2"}}, `--shard-id "shard-3" is unknown: --schedulable-shards lists shard-1, shard-2`},
		"unknown id, empty list":   {Shard{Enabled: true, ID: "shard-1"}, `--shard-id "shard-1" is unknown: --schedulable-shards lists none`},
		"not a label value":        {Shard{Enabled: true, ID: "master", Shards: []string{"Shard_1"}}, `--schedulable-shards: shard id "Shard_1": a lowercase RFC 1123 label`},
		"listed twice":             {Shard{Enabled: true, ID: "master", Shards: []string{"a", "b", "a"}}, `shard id "a" is listed twice`},
		"master listed, tolerated": {Shard{Enabled: true, ID: "a", Shards: []string{"master", "a"}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.shard.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestShardSelector: each object is served by exactly one replica of a
// sharded install: unlabeled objects and those of an unknown shard by
// master, the others by their shard.
func TestShardSelector(t *testing.T) {
	t.Parallel()
	const key = "controller.core.oam.dev/scheduled-shard-id"
	shards := []string{"shard-1", "shard-2"}
	replicas := map[string]Shard{}
	for _, id := range append([]string{"master"}, shards...) {
		replicas[id] = Shard{Enabled: true, ID: id, Shards: shards}
	}
	for objLabels, want := range map[string]string{
		"":                        "master",
		"team=shop":               "master",
		key + "=master":           "master",
		key + "=shard-1":          "shard-1",
		key + "=shard-2":          "shard-2",
		key + "=shard-9":          "master",
		key + "=":                 "master",
		"x=y," + key + "=shard-2": "shard-2",
	} {
		set, err := labels.ConvertSelectorToLabelsMap(objLabels)
		if err != nil {
			t.Fatal(err)
		}
		var servedBy []string
		for id, s := range replicas {
			if s.Selector().Matches(set) {
				servedBy = append(servedBy, id)
			}
		}
		if len(servedBy) != 1 || servedBy[0] != want {
			t.Errorf("object labeled %q is served by %v, want %s only", objLabels, servedBy, want)
		}
	}
	if off := (Shard{}); !off.Selector().Empty() {
		t.Errorf("without sharding the selector is %q, want every object", off.Selector())
	}
	if got := replicas["shard-1"].LeaseName("vela-infra-step-runner"); got != "vela-infra-step-runner-shard-1" {
		t.Errorf("shard-1's Lease is %s", got)
	}
	if got := replicas["master"].LeaseName("vela-infra-step-runner"); got != "vela-infra-step-runner" {
		t.Errorf("master's Lease is %s", got)
	}
}
