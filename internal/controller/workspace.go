package controller

import (
	"context"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/vela-infra/vela-infra/internal/terraform"
)

// Workspace is the Terraform work the steps do in their target's
// workspace: the reconcilers know Terraform only through it. A
// *terraform.Workspace does it for real; the fast tests fake it.
type Workspace interface {
	Plan(context.Context, terraform.PlanOptions) (*terraform.PlanResult, error)
	// Apply applies a saved plan file, and only that.
	Apply(ctx context.Context, planFile string) error
	Import(ctx context.Context, address, id string) error
	State(context.Context) (*tfjson.State, error)
	// PullState and PushState back up and restore the raw state.
	PullState(context.Context) (string, error)
	PushState(ctx context.Context, state string) error
	// Output is what Terraform printed since Open, redacted and capped.
	Output() string
	// Dir is the workspace directory, where a step may put a plan file.
	Dir() string
	// Close releases the workspace for the next run on its target.
	Close()
}

// Opener opens a target's workspace, held by the caller until Close. A
// failed open (terraform init) returns a *terraform.Error with its output.
type Opener interface {
	Open(context.Context, terraform.Target) (Workspace, error)
}

// TerraformOpener opens real workspaces with runner.
func TerraformOpener(runner *terraform.Runner) Opener { return terraformOpener{runner} }

type terraformOpener struct{ runner *terraform.Runner }

func (o terraformOpener) Open(ctx context.Context, t terraform.Target) (Workspace, error) {
	ws, err := o.runner.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return terraformWorkspace{ws}, nil
}

// terraformWorkspace adds the Dir method to *terraform.Workspace, whose Dir
// is a field.
type terraformWorkspace struct{ *terraform.Workspace }

func (w terraformWorkspace) Dir() string { return w.Workspace.Dir }
