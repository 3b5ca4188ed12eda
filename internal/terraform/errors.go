package terraform

import (
	"errors"
	"regexp"
	"strings"
)

// Reasons a Terraform run fails, classified from its output.
const (
	ReasonInterrupted     = "Interrupted"
	ReasonLockHeld        = "LockHeld"
	ReasonAuth            = "AuthFailed"
	ReasonThrottled       = "Throttled"
	ReasonNotFound        = "NotFound"
	ReasonProviderCrashed = "ProviderCrashed"
	ReasonInvalidConfig   = "InvalidConfiguration"
	ReasonInvalidInput    = "InvalidInput"
	ReasonUnknownAddress  = "UnknownAddress"
	// ReasonUnreachable: the provider could not connect to the cloud.
	ReasonUnreachable = "Unreachable"
	// ReasonStalePlan is a saved plan that no longer matches the state
	// (another run changed it after the plan was made): plan again.
	ReasonStalePlan = "StalePlan"
	ReasonFailed    = "Failed"
)

// Error is a failed Terraform command.
type Error struct {
	Op     string
	Reason string
	// Summary is Terraform's own error line(s), redacted.
	Summary string
	// Output is the command's full output, redacted.
	Output string
}

func (e *Error) Error() string { return "terraform " + e.Op + ": " + e.Summary }

// ReasonOf returns the reason of a Terraform error, or "" for other errors.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

var classes = []struct {
	reason string
	re     *regexp.Regexp
}{
	{ReasonStalePlan, regexp.MustCompile(`(?i)Saved plan is stale`)},
	{ReasonLockHeld, regexp.MustCompile(`(?i)error acquiring the state lock|state lock|lock is already held|Lock Info:`)},
	{ReasonProviderCrashed, regexp.MustCompile(`(?i)plugin crashed|the plugin encountered an error|panic: |plugin exited before`)},
	{ReasonAuth, regexp.MustCompile(`(?i)HTTP 401|unauthorized|signature does not match|access key is not known|Missing mycloud (access_key|secret_key|endpoint)`)},
	{ReasonUnreachable, regexp.MustCompile(`(?i)connection refused|no such host|network is unreachable|no route to host|dial tcp [^\n]*i/o timeout`)},
	{ReasonThrottled, regexp.MustCompile(`(?i)HTTP 429|too many requests|throttl`)},
	{ReasonUnknownAddress, regexp.MustCompile(`(?i)Configuration for import target does not exist|Import block target does not exist|resource address .* does not exist in the configuration|Invalid resource address|Invalid address`)},
	{ReasonNotFound, regexp.MustCompile(`(?i)Cannot import non-existent remote object|HTTP 404|does not exist`)},
	{ReasonInvalidInput, regexp.MustCompile(`(?i)Invalid value for variable|Invalid import id|Invalid Attribute Value|No value for required variable|Missing required argument|Invalid [a-z_]+ *\n`)},
	{ReasonInvalidConfig, regexp.MustCompile(`(?i)Argument or block definition required|Unsupported block type|Unsupported argument|Invalid block definition|Unclosed configuration block|Invalid expression|Missing newline after argument|Error: Invalid|Failed to query available provider packages|Unsupported attribute|Reference to undeclared`)},
}

// Summarize is Terraform's first error in output, in one line: its
// "Error: <title>" and the paragraph of detail after it (the last line of
// output when there is no error block).
func Summarize(output string) string { return summarize(output) }

// summarize finds Terraform's first "Error: <title>" and the paragraph of
// detail after it, skipping the source snippet Terraform prints between.
func summarize(output string) string {
	lines := strings.Split(output, "\n")
	for i, line := range lines {
		clean := strings.TrimSpace(strings.TrimLeft(line, "│╷╵ "))
		title, ok := strings.CutPrefix(clean, "Error: ")
		if !ok {
			continue
		}
		var detail []string
		for _, next := range lines[i+1:] {
			text := strings.TrimSpace(strings.TrimLeft(next, "│╷╵ "))
			switch {
			case text == "" && len(detail) > 0:
				return join(title, detail)
			case text == "", snippet.MatchString(text):
				continue
			default:
				detail = append(detail, text)
			}
		}
		return join(title, detail)
	}
	lines = strings.Split(strings.TrimSpace(output), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// snippet matches the source location and code lines Terraform quotes.
var snippet = regexp.MustCompile(`^(on |with |in |\d+:|├|│|\(source code not available\)|[A-Za-z_.\[\]"]+ is )`)

func join(title string, detail []string) string {
	if len(detail) == 0 {
		return title
	}
	return title + ": " + strings.Join(detail, " ")
}

func classify(op, output string) *Error {
	e := &Error{Op: op, Reason: ReasonFailed, Output: output}
	for _, c := range classes {
		if c.re.MatchString(output) {
			e.Reason = c.reason
			break
		}
	}
	e.Summary = strings.Join(strings.Fields(summarize(output)), " ")
	if len(e.Summary) > 400 {
		e.Summary = e.Summary[:400] + "…"
	}
	return e
}
