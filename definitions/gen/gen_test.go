package main

import (
	"os"
	"path/filepath"
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

// TestGeneratedFilesAreCurrent fails when a module, this generator or a
// README changed without `go generate ./definitions`, or when someone
// edited a generated file by hand.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	r := root(t)
	files, err := generate(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range components {
		for _, dir := range []string{componentsDir, addonDefsDir} {
			if _, ok := files[dir+"/mycloud-"+c.Type+".cue"]; !ok {
				t.Errorf("the generator does not write %s/mycloud-%s.cue", dir, c.Type)
			}
		}
	}
	stale, err := staleFiles(r, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range stale {
		got, _ := os.ReadFile(filepath.Join(r, filepath.FromSlash(rel)))
		t.Errorf("%s is stale: run go generate ./definitions (-want +got):\n%s", rel, cmp.Diff(string(files[rel]), string(got)))
	}
	// Nothing but the generator writes definition files.
	for _, dir := range []string{componentsDir, addonDefsDir} {
		entries, err := os.ReadDir(filepath.Join(r, filepath.FromSlash(dir)))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := files[dir+"/"+e.Name()]; !ok {
				t.Errorf("%s/%s is not generated; definitions/gen writes every file there", dir, e.Name())
			}
		}
	}
}

// TestRefusesWhatItCannotMirror: a module variable with a validation block
// (or a sensitive one) and no rule, a rule for a variable that does not
// exist, and a rule whose message contradicts the module all stop the
// generator rather than produce a definition that validates less than the
// module.
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
		rules map[string]rule
		want  string
	}{
		"validated variable without a rule": {without("storage_gib"), `variable "storage_gib" has a validation block but definitions/gen has no rule`},
		"sensitive variable without a rule": {without("admin_password"), `sensitive variable "admin_password" needs a rule`},
		"rule for a missing variable":       {with("size", rule{Valid: []string{"true"}}), "rule for mysql.size, but definitions/modules/mysql/main.tf has no such variable"},
		"rule with a second message":        {with("name", rule{Valid: []string{"true"}, Message: "must be short"}), "sets a message, but the module's validation already has one"},
		"rule without a condition":          {with("name", rule{}), "the rule for mysql.name has no condition"},
		"sensitive rule without a message":  {with("admin_password", rule{Valid: []string{"true"}}), "the rule for mysql.admin_password needs a message"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newDefinition(component{Type: "mysql", Description: base.Description, Rules: tc.rules}, mysql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReplaceSection(t *testing.T) {
	cases := map[string]struct{ doc, want string }{
		"appends at the end": {
			doc:  "# x\n\n## A\na\n",
			want: "# x\n\n## A\na\n\n## Gen\nbody\n",
		},
		"replaces the last section": {
			doc:  "# x\n\n## Gen\nold\nold\n",
			want: "# x\n\n## Gen\nbody\n",
		},
		"replaces a section before another": {
			doc:  "# x\n\n## Gen\nold\n\n## B\nb\n",
			want: "# x\n\n## Gen\nbody\n\n## B\nb\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := string(replaceSection([]byte(tc.doc), "## Gen", "body\n")); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
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
