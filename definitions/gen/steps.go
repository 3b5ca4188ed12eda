package main

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue/format"
)

// stepStatus is how every infra-* step reads the step-run object it applied
// (or read): the step-runner's Ready and Stalled conditions, trusted only
// once status.observedGeneration has caught up with the object. The step
// defines apply (the kube.#Apply or kube.#Read of its object) and _pending
// (its message until then); it gets _done, _reason and _message from Ready,
// and fails with Stalled's message unless it sets _stopOnStall: false (a
// step over several objects, each in a struct of its own with this block).
// The step also defines render (the component, rendered) and puts _target
// into its object as spec.target: the
// rendered spec without its variables, which the step writes into the
// Secret the step-runner names in status.variablesSecret (never into the
// object, where a password would be readable by everyone who may read
// step-run objects). The step puts _shardLabels into its object's labels
// too: the Application's KubeVela shard, which the variables Secret
// carries as well, so that the step-runner replica serving that shard runs
// them (docs/scaling.md).
const stepStatus = `
// The step-run object's status, as in every infra-* step (definitions/gen
// stepStatus); this step defines apply and _pending.
_obj: apply.$returns.value
_conds: *[] | [...{...}]
if _obj.status != _|_ if _obj.status.conditions != _|_ {
	_conds: _obj.status.conditions
}
_current: *false | bool
if _obj.status != _|_ if _obj.status.observedGeneration != _|_ {
	_current: _obj.status.observedGeneration == _obj.metadata.generation
}
_ready: [for c in _conds if c.type == "Ready" {c}]
_stalled: [for c in _conds if c.type == "Stalled" && c.status == "True" {c}]
_done:    *false | bool
_reason:  *"" | string
_message: *_pending | string
if _current && len(_ready) > 0 {
	_done:    _ready[0].status == "True"
	_reason:  _ready[0].reason
	_message: _ready[0].message
}

// The Application's shard (KubeVela's controller sharding): the step-run
// object and its variables Secret carry it, so that the step-runner
// replica serving that shard runs them; none when the Application has none
// (the master shard serves those). vela-core passes the Application's
// labels as context.appLabels (null when it has none).
_shardLabels: {
	if context.appLabels != _|_ if context.appLabels != null if context.appLabels["controller.core.oam.dev/scheduled-shard-id"] != _|_ {
		"controller.core.oam.dev/scheduled-shard-id": context.appLabels["controller.core.oam.dev/scheduled-shard-id"]
	}
}

// The variables go to the Secret the step-runner names, for this request.
_target: {
	configurationName: render.$returns.output.metadata.name
	spec: {for k, v in render.$returns.output.spec if k != "variable" {(k): v}}
	variablesFrom: "Secret"
}
_variables: *{} | {...}
if render.$returns.output.spec.variable != _|_ {
	_variables: render.$returns.output.spec.variable
}
_variablesRequest: *"" | string
if _obj.spec != _|_ if _obj.spec.request != _|_ {
	_variablesRequest: _obj.spec.request
}
// The status names the Secret, but whoever may write the object's status
// must not steer vela-core into overwriting any Secret: only the name the
// step-runner derives for this object (tfvars-<kind>.<namespace>.<name>;
// one too long for a name is hashed, and then only its prefix is checked).
_variablesName: "tfvars-\(strings.ToLower(_obj.kind)).\(_obj.metadata.namespace).\(_obj.metadata.name)"
variables: {
	if _obj.status != _|_ if _obj.status.variablesSecret != _|_ {
		_at: strings.Split(_obj.status.variablesSecret, "/")
		_ns: [if len(_at) == 2 {_at[0]}, ""][0]
		_name: [if len(_at) == 2 {_at[1]}, ""][0]
		_ok: _ns != "" && strings.HasPrefix(_name, "tfvars-") && (len(_variablesName) > 253 || _name == _variablesName)
		if !_ok {
			refuse: builtin.#Fail & {
				$params: message: "status.variablesSecret \(_obj.status.variablesSecret) is not the Secret the step-runner names for this object (\(_variablesName)): not writing the variables there"
			}
		}
		if _ok {
			write: kube.#Apply & {
				$params: value: {
					apiVersion: "v1"
					kind:       "Secret"
					metadata: {
						namespace: _ns
						name:      _name
						labels: {
							_shardLabels
							"infra.vela-infra.io/variables-kind":      _obj.kind
							"infra.vela-infra.io/variables-namespace": _obj.metadata.namespace
							"infra.vela-infra.io/variables-name":      [if len(_obj.metadata.name) > 63 {strings.SliceRunes(_obj.metadata.name, 0, 63)}, _obj.metadata.name][0]
						}
						annotations: "infra.vela-infra.io/request": _variablesRequest
					}
					type: "Opaque"
					stringData: variables: json.Marshal(_variables)
				}
			}
		}
	}
}

// Stalled: the step-runner gave up on this spec; say why and stop (a step
// over several objects sets _stopOnStall: false and sums them up itself).
_stopOnStall: *true | bool
fail: {
	if _stopOnStall && _current && len(_stalled) > 0 {
		stop: builtin.#Fail & {
			$params: message: _stalled[0].message
		}
	}
}
`

// renderStep writes stepStatus between the markers of a step definition,
// indented as the markers are, and formats the file as cue fmt does.
func renderStep(src []byte) ([]byte, error) {
	begin := "// " + beginMark
	line := ""
	for _, l := range strings.Split(string(src), "\n") {
		if strings.TrimSpace(l) == begin {
			line = l
			break
		}
	}
	if line == "" {
		return nil, fmt.Errorf("no line %q", begin)
	}
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	var body strings.Builder
	for _, l := range strings.Split(strings.Trim(stepStatus, "\n"), "\n") {
		if l != "" {
			body.WriteString(indent + l)
		}
		body.WriteString("\n")
	}
	out, err := replaceMarked(src, begin, "// "+endMark, body.String())
	if err != nil {
		return nil, err
	}
	formatted, err := format.Source(out)
	if err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	return formatted, nil
}
