package mycloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/vela-infra/vela-infra/internal/mycloud"
	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// faults reads GET /admin/v1/faults.
func (e *env) faults(t *testing.T) mycloud.FaultList {
	t.Helper()
	code, body := e.admin(t, http.MethodGet, "/admin/v1/faults", nil)
	if code != http.StatusOK {
		t.Fatalf("GET faults: %d %v", code, body)
	}
	data, _ := json.Marshal(body)
	var out mycloud.FaultList
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// addFault adds a fault and returns it as the server answered.
func (e *env) addFault(t *testing.T, fault map[string]any) mycloud.Fault {
	t.Helper()
	code, body := e.admin(t, http.MethodPost, "/admin/v1/faults", fault)
	if code != http.StatusCreated {
		t.Fatalf("add fault %v: %d %v", fault, code, body)
	}
	data, _ := json.Marshal(body)
	var f mycloud.Fault
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// fired makes n calls that are not retried and tells which were answered
// by an injected fault.
func (e *env) fired(t *testing.T, n int) []bool {
	t.Helper()
	cli := client.New(e.url, testKey, testSecret)
	cli.MaxAttempts = 1
	out := make([]bool, n)
	for i := range out {
		_, err := cli.List(context.Background(), mycloud.KindVPC, nil)
		var apiE *client.Error
		switch {
		case err == nil:
		case errors.As(err, &apiE) && apiE.Code == "InjectedFault":
			out[i] = true
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	return out
}

func count(fired []bool) int {
	n := 0
	for _, f := range fired {
		if f {
			n++
		}
	}
	return n
}

// TestFaultRateIsSeededAndCounted: a fault with a rate fires on about that
// share of calls, the same calls in every run with the same seed, and its
// counters (and the request log) say how many calls it saw and answered.
func TestFaultRateIsSeededAndCounted(t *testing.T) {
	const calls = 400
	fault := map[string]any{"path": "*", "status": 503, "rate": 0.2, "seed": 42}
	a, b := newEnv(t, 0), newEnv(t, 0)
	if f := a.addFault(t, fault); f.Path != "/v1/" || f.Seed != 42 || f.Rate == nil || *f.Rate != 0.2 {
		t.Fatalf("fault as added: %+v", f)
	}
	b.addFault(t, fault)
	first, second := a.fired(t, calls), b.fired(t, calls)
	n := count(first)
	if n < calls*12/100 || n > calls*28/100 {
		t.Errorf("a rate of 0.2 fired on %d of %d calls", n, calls)
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("seed 42 fired differently at call %d: the draws are not reproducible", i)
		}
	}

	list := a.faults(t)
	if len(list.Items) != 1 || list.Items[0].Matched != calls || list.Items[0].Hits != n || list.Injected != n {
		t.Fatalf("counters: %+v, want %d matched and %d hits and injected", list, calls, n)
	}
	_, log := a.admin(t, http.MethodGet, "/admin/v1/requests", nil)
	logged := 0
	for _, item := range log["items"].([]any) {
		entry := item.(map[string]any)
		if entry["fault"] != nil {
			logged++
			if entry["status"].(float64) != 503 {
				t.Errorf("a faulted call is logged as %v", entry["status"])
			}
		}
	}
	if logged != n {
		t.Errorf("the request log names a fault on %d calls, the counters say %d", logged, n)
	}

	// Without a seed mycloud picks one and shows it: adding the fault again
	// with that seed fires on the same calls.
	c, d := newEnv(t, 0), newEnv(t, 0)
	picked := c.addFault(t, map[string]any{"status": 500, "rate": 0.3})
	if picked.Seed <= 0 || picked.Path != "/v1/" {
		t.Fatalf("fault without seed or path: %+v", picked)
	}
	d.addFault(t, map[string]any{"status": 500, "rate": 0.3, "seed": picked.Seed})
	if x, y := c.fired(t, 100), d.fired(t, 100); fmtBools(x) != fmtBools(y) {
		t.Fatalf("the picked seed %d does not repeat the run", picked.Seed)
	}
}

// fmtBools writes which calls fired as 0s and 1s.
func fmtBools(b []bool) string {
	var sb strings.Builder
	for _, v := range b {
		if v {
			sb.WriteByte('1')
		} else {
			sb.WriteByte('0')
		}
	}
	return sb.String()
}

// TestFaultsChainAndEnd: faults are tried in order and the first that fires
// answers, so a later one sees only the calls earlier ones let through; a
// fault with a count stops firing after it and stays listed with its counts.
func TestFaultsChainAndEnd(t *testing.T) {
	e := newEnv(t, 0)
	first := e.addFault(t, map[string]any{"method": "GET", "path": "/v1/vpcs", "status": 429, "retry_after_seconds": 1, "count": 3})
	second := e.addFault(t, map[string]any{"path": "/v1/", "latency_ms": 1, "rate": 0.5, "seed": 7})
	const calls = 40
	if n := count(e.fired(t, calls)); n != 3 {
		t.Fatalf("%d calls answered with an error, want the first fault's 3", n)
	}
	list := e.faults(t)
	if len(list.Items) != 2 {
		t.Fatalf("faults listed: %+v", list.Items)
	}
	got1, got2 := list.Items[0], list.Items[1]
	if got1.ID != first.ID || !got1.Done || got1.Hits != 3 || got1.Matched != 3 {
		t.Errorf("the counted fault after its count: %+v", got1)
	}
	// The first fault is done after three calls; the rest reach the second.
	if got2.ID != second.ID || got2.Matched != calls-3 || got2.Hits == 0 || got2.Hits == got2.Matched {
		t.Errorf("the second fault: %+v, want %d matched and about half hit", got2, calls-3)
	}
	if list.Injected != got1.Hits+got2.Hits {
		t.Errorf("injected %d, want %d", list.Injected, got1.Hits+got2.Hits)
	}
	// POST goes past the GET-only fault, and DELETE clears faults and counts.
	if _, err := e.cli.Create(context.Background(), mycloud.KindBucket, map[string]any{"name": "past-the-get-fault"}); err != nil {
		t.Fatal(err)
	}
	if got := e.faults(t).Items[1].Matched; got != calls-3+1 {
		t.Errorf("the every-path fault saw %d calls, want %d", got, calls-3+1)
	}
	e.admin(t, http.MethodDelete, "/admin/v1/faults", nil)
	if list := e.faults(t); len(list.Items) != 0 || list.Injected != 0 {
		t.Errorf("after DELETE: %+v", list)
	}
}

// TestBadFaultsNameTheField: every refused fault is a 400 naming the field.
func TestBadFaultsNameTheField(t *testing.T) {
	e := newEnv(t, 0)
	for name, tc := range map[string]struct {
		fault map[string]any
		field string
	}{
		"path elsewhere":     {map[string]any{"path": "/elsewhere", "status": 500}, "path"},
		"rate zero":          {map[string]any{"status": 500, "rate": 0}, "rate"},
		"rate negative":      {map[string]any{"status": 500, "rate": -0.1}, "rate"},
		"rate above one":     {map[string]any{"status": 500, "rate": 1.5}, "rate"},
		"seed negative":      {map[string]any{"status": 500, "rate": 0.5, "seed": -1}, "seed"},
		"seed too large":     {map[string]any{"status": 500, "rate": 0.5, "seed": int64(1) << 60}, "seed"},
		"seed without rate":  {map[string]any{"status": 500, "seed": 3}, "seed"},
		"seed with rate one": {map[string]any{"status": 500, "rate": 1, "seed": 3}, "seed"},
		"status 404":         {map[string]any{"status": 404}, "status"},
		"no effect":          {map[string]any{"path": "/v1/vpcs", "rate": 0.5}, "status"},
		"count negative":     {map[string]any{"status": 500, "count": -1}, "count"},
		"lower-case method":  {map[string]any{"method": "get", "status": 500}, "method"},
	} {
		code, body := e.admin(t, http.MethodPost, "/admin/v1/faults", tc.fault)
		errBody, _ := body["error"].(map[string]any)
		msg, _ := errBody["message"].(string)
		if code != http.StatusBadRequest || errBody["field"] != tc.field || !strings.HasPrefix(msg, tc.field+" ") {
			t.Errorf("%s: HTTP %d %v, want 400 naming %s", name, code, body, tc.field)
		}
	}
	if list := e.faults(t); len(list.Items) != 0 {
		t.Errorf("refused faults were added: %+v", list.Items)
	}
}
