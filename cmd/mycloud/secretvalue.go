package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

const secretValueUsage = `usage: mycloud secret-value [-endpoint URL] [-access-key ID] <secret-id>

Prints the value of a secret mycloud keeps: the password of a MySQL instance
created with manage_admin_password (its admin_password_secret_id) or of a
Redis instance created with manage_password (its password_secret_id).
The request is signed with the key pair of the environment, as the Terraform
provider's: MYCLOUD_ENDPOINT, MYCLOUD_ACCESS_KEY and MYCLOUD_SECRET_KEY (the
secret key only from the environment, so it never shows in ps).
`

// secretValue is the subcommand `mycloud secret-value`: wiring of
// client.SecretValue, the one way besides the Go client to read a managed
// password (requests are HMAC-signed, so curl cannot).
func secretValue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("secret-value", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, secretValueUsage) }
	endpoint := fs.String("endpoint", os.Getenv("MYCLOUD_ENDPOINT"), "base URL of the mycloud API (env MYCLOUD_ENDPOINT)")
	accessKey := fs.String("access-key", os.Getenv("MYCLOUD_ACCESS_KEY"), "access key id (env MYCLOUD_ACCESS_KEY)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("secret-value: give exactly one secret id")
	}
	id := fs.Arg(0)
	if err := rules.ID("secret-", id); err != nil {
		return fmt.Errorf("secret-value: %w", err)
	}
	secretKey := os.Getenv("MYCLOUD_SECRET_KEY")
	if *endpoint == "" || *accessKey == "" || secretKey == "" {
		return errors.New("secret-value: set MYCLOUD_ENDPOINT (or -endpoint), MYCLOUD_ACCESS_KEY (or -access-key) and MYCLOUD_SECRET_KEY")
	}
	value, err := client.New(*endpoint, *accessKey, secretKey).SecretValue(ctx, id)
	if err != nil {
		return fmt.Errorf("secret-value %s: %w", id, err)
	}
	_, err = fmt.Fprintln(stdout, value)
	return err
}
