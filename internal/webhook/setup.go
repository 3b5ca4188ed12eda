package webhook

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/vela-infra/vela-infra/internal/controller"
)

// Paths the webhook configuration calls (the chart's webhook.yaml).
const (
	ApplicationStatusPath = "/validate-application-status"
	InfraApprovalsPath    = "/validate-infraapprovals"
	DeletionsPath         = "/validate-deletions"
	InfraPoliciesPath     = "/validate-infrapolicies"
	SpecAuthorsPath       = "/validate-application-spec"
	InfraDriftsPath       = "/validate-infradrifts"
)

// Options configure the webhooks.
type Options struct {
	// Certs keeps the serving certificate; Dir must be the server's CertDir.
	Certs *Certs
	// PlanNamespace is the step-runner's --plan-namespace.
	PlanNamespace string
	// WorkflowEngines are the workflow engine's usernames.
	WorkflowEngines []string
	// Namespaces are the namespaces the step-runner serves (empty: every
	// one): deletes of shared infrastructure are refused only there.
	Namespaces []string
}

// Setup provisions the certificate (before the server starts: it reads the
// files), keeps it, and registers both webhooks on mgr's webhook server.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	live, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	o.Certs.Client = live
	if err := o.Certs.Ensure(ctx); err != nil {
		return err
	}
	if err := mgr.Add(o.Certs); err != nil {
		return err
	}
	deps := &Deps{
		Reader: mgr.GetAPIReader(), Client: live, WorkflowEngines: o.WorkflowEngines,
		Approvals: &controller.Approvals{Client: live, PlanNamespace: o.PlanNamespace, Recorder: mgr.GetEventRecorderFor("vela-infra-step-runner")},
	}
	srv := mgr.GetWebhookServer()
	srv.Register(ApplicationStatusPath, &webhook.Admission{Handler: &ApplicationStatus{deps}})
	srv.Register(InfraApprovalsPath, &webhook.Admission{Handler: &InfraApprovals{deps}})
	srv.Register(InfraPoliciesPath, &webhook.Admission{Handler: InfraPolicies{}})
	srv.Register(SpecAuthorsPath, &webhook.Admission{Handler: &SpecAuthors{deps}})
	srv.Register(InfraDriftsPath, &webhook.Admission{Handler: &InfraDrifts{deps}})
	srv.Register(DeletionsPath, &webhook.Admission{Handler: &Deletions{Reader: mgr.GetAPIReader(), Namespaces: o.Namespaces, WorkflowEngines: o.WorkflowEngines}})
	return nil
}
