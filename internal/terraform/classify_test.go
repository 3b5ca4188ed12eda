package terraform

import "testing"

func TestClassify(t *testing.T) {
	cases := map[string]struct{ output, reason, summary string }{
		"lock": {"Error: Error acquiring the state lock\n\nError message: lease is held\nLock Info:\n  ID: 1", ReasonLockHeld, "Error acquiring the state lock: Error message: lease is held Lock Info: ID: 1"},
		"auth": {"╷\n│ Error: Could not read mycloud_vpc\n│ \n│ mycloud API: the request signature does not match: check the secret key (HTTP 401 Unauthorized)\n╵", ReasonAuth,
			"Could not read mycloud_vpc: mycloud API: the request signature does not match: check the secret key (HTTP 401 Unauthorized)"},
		"throttled": {"Error: Could not create mycloud_bucket\n\nPOST /v1/buckets: giving up after 8 attempts: mycloud API: x (HTTP 429 InjectedFault)", ReasonThrottled, ""},
		"unreachable": {"╷\n│ Error: Could not read mycloud_vpc\n│ \n│ Get \"http://127.0.0.1:1/v1/vpcs/vpc-1\": dial tcp 127.0.0.1:1: connect: connection refused\n╵", ReasonUnreachable,
			`Could not read mycloud_vpc: Get "http://127.0.0.1:1/v1/vpcs/vpc-1": dial tcp 127.0.0.1:1: connect: connection refused`},
		"crash":           {"Error: Plugin did not respond\n\nThe plugin encountered an error, and failed to respond", ReasonProviderCrashed, ""},
		"unknown address": {"Error: Configuration for import target does not exist\n\nThe configuration for the given import mycloud_vpc.x does not exist.", ReasonUnknownAddress, ""},
		"import block":    {"Error: Import block target does not exist\n\nThe target for the given import block does not exist.", ReasonUnknownAddress, ""},
		"not found":       {"Error: Cannot import non-existent remote object", ReasonNotFound, ""},
		"bad var":         {"Error: Invalid value for variable\n\n  on main.tf line 3", ReasonInvalidInput, "Invalid value for variable"},
		"hcl":             {"Error: Argument or block definition required", ReasonInvalidConfig, ""},
		"stale plan": {"Error: Saved plan is stale\n\nThe given plan file can no longer be applied because the state was changed by another operation after the plan was created.", ReasonStalePlan,
			"Saved plan is stale: The given plan file can no longer be applied because the state was changed by another operation after the plan was created."},
		"other": {"Error: something else\n", ReasonFailed, "something else"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := classify("plan", tc.output)
			if e.Reason != tc.reason {
				t.Errorf("reason %q, want %q", e.Reason, tc.reason)
			}
			if tc.summary != "" && e.Summary != tc.summary {
				t.Errorf("summary %q, want %q", e.Summary, tc.summary)
			}
		})
	}
}
