package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// AppFile reads the application e2e/testdata/<name> of the repository at
// root with its ${VAR} placeholders replaced from vars (the e2e tests and
// make demo deploy the same applications). A placeholder vars lacks is an
// error, not an empty value.
func AppFile(root, name string, vars map[string]string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "e2e", "testdata", name))
	if err != nil {
		return "", err
	}
	var missing []string
	out := os.Expand(string(data), func(k string) string {
		v, ok := vars[k]
		if !ok {
			missing = append(missing, k)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("e2e/testdata/%s: no value for %v", name, missing)
	}
	return out, nil
}
