package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vela-infra/vela-infra/internal/mycloud"
	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// TestSecretValue: `mycloud secret-value <id>` prints the managed password
// of an instance, signed with the key pair of the environment, and refuses
// what cannot work with a message saying what to set.
func TestSecretValue(t *testing.T) {
	const key, secret = "AKSECRETVALUE", "sentinel-secret-value-key"
	store, err := mycloud.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mycloud.NewServer(store, mycloud.Config{Credentials: map[string]string{key: secret}}))
	t.Cleanup(func() { hs.Close(); store.Close() })
	ctx := context.Background()
	cli := client.New(hs.URL, key, secret)
	vpc, err := cli.Create(ctx, mycloud.KindVPC, map[string]any{"name": "main", "cidr": "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := cli.Create(ctx, mycloud.KindSubnet, map[string]any{"name": "app", "vpc_id": vpc.String("id"), "cidr": "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := cli.Create(ctx, mycloud.KindMySQL, map[string]any{"name": "db", "subnet_id": subnet.String("id"), "manage_admin_password": true})
	if err != nil {
		t.Fatal(err)
	}
	id := db.String("admin_password_secret_id")
	want, err := cli.SecretValue(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]struct {
		env     map[string]string
		args    []string
		wantOut string
		wantErr string
	}{
		"from the environment": {env: map[string]string{"MYCLOUD_ENDPOINT": hs.URL, "MYCLOUD_ACCESS_KEY": key, "MYCLOUD_SECRET_KEY": secret},
			args: []string{id}, wantOut: want + "\n"},
		"endpoint and key id as flags": {env: map[string]string{"MYCLOUD_SECRET_KEY": secret},
			args: []string{"-endpoint", hs.URL, "-access-key", key, id}, wantOut: want + "\n"},
		"no secret key": {env: map[string]string{"MYCLOUD_ENDPOINT": hs.URL, "MYCLOUD_ACCESS_KEY": key},
			args: []string{id}, wantErr: "set MYCLOUD_ENDPOINT (or -endpoint), MYCLOUD_ACCESS_KEY (or -access-key) and MYCLOUD_SECRET_KEY"},
		"wrong secret key": {env: map[string]string{"MYCLOUD_ENDPOINT": hs.URL, "MYCLOUD_ACCESS_KEY": key, "MYCLOUD_SECRET_KEY": "wrong"},
			args: []string{id}, wantErr: "signature does not match"},
		"unknown secret": {env: map[string]string{"MYCLOUD_ENDPOINT": hs.URL, "MYCLOUD_ACCESS_KEY": key, "MYCLOUD_SECRET_KEY": secret},
			args: []string{"secret-00000000"}, wantErr: "secrets secret-00000000 does not exist"},
		"the id of an instance": {env: map[string]string{"MYCLOUD_ENDPOINT": hs.URL, "MYCLOUD_ACCESS_KEY": key, "MYCLOUD_SECRET_KEY": secret},
			args: []string{db.String("id")}, wantErr: "is not a mycloud id of the form secret-"},
		"no id": {args: nil, wantErr: "give exactly one secret id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"MYCLOUD_ENDPOINT", "MYCLOUD_ACCESS_KEY", "MYCLOUD_SECRET_KEY"} {
				t.Setenv(k, tc.env[k])
			}
			var stdout, stderr bytes.Buffer
			err := secretValue(ctx, tc.args, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if stdout.Len() != 0 || strings.Contains(err.Error()+stderr.String(), want) {
					t.Fatal("a failed call printed the password")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tc.wantOut {
				t.Fatal("secret-value did not print the instance's password")
			}
		})
	}
}
