package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRefusesWhatItCannotMirror: a module variable with a validation block
// (or a sensitive one) and no rule, a rule for a variable that does not
// exist, a rule whose message contradicts the module, and a managed
// password whose variables the module does not declare as the check
// assumes all stop the generator rather than produce a definition that
// validates less than the module.
func TestRefusesWhatItCannotMirror(t *testing.T) {
	r := root(t)
	mysql, err := readModule(r, "mysql")
	if err != nil {
		t.Fatal(err)
	}
	var base component
	for _, c := range components {
		if c.Type == "mysql" {
			base = c
		}
	}
	without := func(name string) map[string]rule {
		rules := map[string]rule{}
		for k, v := range base.Rules {
			if k != name {
				rules[k] = v
			}
		}
		return rules
	}
	with := func(name string, r rule) map[string]rule {
		rules := without(name)
		rules[name] = r
		return rules
	}
	cases := map[string]struct {
		rules   map[string]rule
		managed *managedPassword // base's when nil
		want    string
	}{
		"validated variable without a rule":          {without("storage_gib"), nil, `variable "storage_gib" has a validation block but definitions/gen has no rule`},
		"sensitive variable without a rule":          {without("admin_password"), nil, `sensitive variable "admin_password" needs a rule`},
		"rule for a missing variable":                {with("size", rule{Valid: []string{"true"}}), nil, "rule for mysql.size, but definitions/modules/mysql/main.tf has no such variable"},
		"rule with a second message":                 {with("name", rule{Valid: []string{"true"}, Message: "must be short"}), nil, "sets a message, but the module's validation already has one"},
		"rule without a condition":                   {with("name", rule{}), nil, "the rule for mysql.name has no condition"},
		"sensitive rule without a message":           {with("admin_password", rule{Valid: []string{"true"}}), nil, "the rule for mysql.admin_password needs a message"},
		"only cloud checks for a validated variable": {with("storage_gib", rule{Cloud: []check{{Valid: "true", Message: "m"}}}), nil, "has only cloud checks, but the module validates it"},
		"cloud check quoting a password": {with("admin_password", rule{Valid: []string{"true"}, Message: "m", Cloud: []check{{Valid: "true", MessageCUE: `"\({v})"`}}}), nil,
			"quotes the value, which is sensitive"},
		"cloud check with two messages": {with("tags", rule{Cloud: []check{{Valid: "true", Message: "m", MessageCUE: `"m"`}}}), nil, "needs a condition and one message"},
		"managed password of no variable": {base.Rules, &managedPassword{Password: "root_password", Flag: "manage_admin_password", Keep: "keep_existing_password"},
			`managed password of mysql: definitions/modules/mysql/main.tf has no variable "root_password"`},
		"managed password not sensitive": {base.Rules, &managedPassword{Password: "name", Flag: "manage_admin_password", Keep: "keep_existing_password"},
			`variable "name" must be a sensitive string whose default is null`},
		"managed password flag not a bool": {base.Rules, &managedPassword{Password: "admin_password", Flag: "storage_gib", Keep: "keep_existing_password"},
			`variable "storage_gib" must be a bool whose default is false`},
		"managed password flag missing": {base.Rules, &managedPassword{Password: "admin_password", Flag: "manage_password", Keep: "keep_existing_password"},
			`has no variable "manage_password"`},
		"keep flag missing": {base.Rules, &managedPassword{Password: "admin_password", Flag: "manage_admin_password", Keep: "keep_password"},
			`has no variable "keep_password"`},
		"keep flag not a bool": {base.Rules, &managedPassword{Password: "admin_password", Flag: "manage_admin_password", Keep: "engine_version"},
			`variable "engine_version" must be a bool whose default is false`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			managed := tc.managed
			if managed == nil {
				managed = base.ManagedPassword
			}
			_, err := newDefinition(component{Type: "mysql", Description: base.Description, Rules: tc.rules, ManagedPassword: managed}, mysql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReplaceMarked(t *testing.T) {
	cases := map[string]struct{ doc, body, want, err string }{
		"replaces the block": {
			doc:  "# x\n<!-- B -->\nold\nold\n<!-- E -->\nrest\n",
			body: "new\n",
			want: "# x\n<!-- B -->\nnew\n<!-- E -->\nrest\n",
		},
		"keeps the end marker's indentation": {
			doc:  "a: {\n\t// B\n\told: 1\n\t// E\n}\n",
			body: "\tnew: 2",
			want: "a: {\n\t// B\n\tnew: 2\n\t// E\n}\n",
		},
		"fills an empty block": {
			doc:  "// B\n// E\n",
			body: "x\n",
			want: "// B\nx\n// E\n",
		},
		"no markers":         {doc: "# x\n", err: "once each"},
		"markers reversed":   {doc: "// E\n// B\n", err: "once each"},
		"marker twice":       {doc: "// B\n// E\n// B\n// E\n", err: "once each"},
		"end marker in text": {doc: "// B\nx // E\n", err: "does not start its line"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			begin, end := "// B", "// E"
			if strings.HasPrefix(tc.doc, "# x") {
				begin, end = "<!-- B -->", "<!-- E -->"
			}
			got, err := replaceMarked([]byte(tc.doc), begin, end, tc.body)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRenderStepIsIdempotent: the step block, written into a definition,
// is formatted as cue fmt formats it, and writing it again changes nothing.
func TestRenderStepIsIdempotent(t *testing.T) {
	src := "template: {\n\tapply: {}\n\t_pending: \"x\"\n\n\t// BEGIN generated by definitions/gen: do not edit\n\t// END generated by definitions/gen\n\n\twait: {}\n}\n"
	once, err := renderStep([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(once), "\t_message: *_pending | string\n") {
		t.Errorf("the block is not in the file:\n%s", once)
	}
	twice, err := renderStep(once)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(once), string(twice)); diff != "" {
		t.Errorf("a second run changed the file (-first +second):\n%s", diff)
	}
	if _, err := renderStep([]byte("template: {}\n")); err == nil {
		t.Error("a definition without the markers was accepted")
	}
}

func TestRawMultilineKeepsTheText(t *testing.T) {
	got, err := rawMultiline(1, "a \"quoted\" \\(x)\n\n  b\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "#\"\"\"\n\ta \"quoted\" \\(x)\n\n\t  b\n\n\t\"\"\"#"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := rawMultiline(1, `x """# y`); err == nil {
		t.Error(`text with """# was accepted`)
	}
}
