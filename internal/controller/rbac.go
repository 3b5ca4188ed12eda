package controller

// The step-runner's permissions, every one of them: `make generate` runs
// `controller-gen rbac` on these markers and writes
// charts/vela-infra/rbac/role.yaml, whose rules the chart's
// templates/rbac.yaml renders (a test in hack/addongen holds the rendered
// chart to that file). The namespace of a marker is a placeholder for where
// the chart grants it:
//
//   - none: a ClusterRole, in every namespace;
//   - served: the namespaces the step-runner works in (its tenants), as a
//     Role in each of values.namespaces, or as a ClusterRole when
//     values.namespaces is set empty (an explicit choice; never the default);
//   - state: where Terraform state and shared credentials live, as a Role
//     in terraformBackendNamespace and each of values.credentialNamespaces
//     (vela-system by default);
//   - release: its own namespace, for leader election;
//   - webhook: its own namespace, when it serves its admission webhooks
//     (values.webhook.enabled).

// Its step-run objects: watched, reconciled, their status written.
// +kubebuilder:rbac:groups=infra.vela-infra.io,resources=infraimports;infradrifts;infraapprovals;infradiscoveries,verbs=get;list;watch
// +kubebuilder:rbac:groups=infra.vela-infra.io,resources=infraimports/status;infradrifts/status;infraapprovals/status;infradiscoveries/status,verbs=get;patch;update

// InfraPolicies (cluster-scoped, written by the platform team): read, to
// evaluate the ones that select a plan's namespace (planpolicy.go).
// +kubebuilder:rbac:groups=infra.vela-infra.io,resources=infrapolicies,verbs=get;list;watch

// terraform-controller's Configurations (the step's target, with its
// state) and Providers (whose credentials a run uses): only read.
// +kubebuilder:rbac:groups=terraform.core.oam.dev,resources=configurations;providers,verbs=get;list;watch

// The pods of terraform-controller's Jobs and their logs: the run output it
// keeps after the pods are gone.
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=pods/log,verbs=get

// Where Terraform state and shared credentials live, and nowhere else (a
// tenant's namespace only when terraform-controller keeps the state in each
// Configuration's namespace: the chart then grants these there): the state
// Secrets, the shared Providers' credential Secrets, the saved plans and
// the variables Secrets the workflow steps write (--plan-namespace; watched,
// but cached only when labelled as variables), and the backend's state
// locks.
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;update;patch;delete,namespace=state
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update;delete,namespace=state

// Keeping adopted and shared infrastructure from being destroyed with its
// Configuration (retain.go): spec.deleteResource and the annotations that
// say why; and the error of its last failed apply (internal/joblogs), for
// vela status. On the Configurations of the namespaces it serves.
// +kubebuilder:rbac:groups=terraform.core.oam.dev,resources=configurations,verbs=patch,namespace=served

// Run output, and the Application an InfraDiscovery writes: ConfigMaps
// owned by the step-run object or the Configuration.
// +kubebuilder:rbac:groups=core,resources=configmaps,verbs=get;list;create;update;patch;delete,namespace=served

// Events on the step-run objects and Configurations.
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch,namespace=served

// Leader election: its Lease, and the Events that record a new leader.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=release
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch,namespace=release

// Approvals (internal/webhook): the admission webhooks ask the API server
// whether the person resuming a workflow, or approving an InfraApproval
// directly, has the verb approve on it (SubjectAccessReview); the
// step-runner keeps its own webhook certificate, puts its CA into its one
// ValidatingWebhookConfiguration (by name), and keeps the CA and serving
// certificate in one Secret of its own namespace (create cannot be limited
// to a name; get and update are).
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;update,resourceNames=vela-infra-step-runner
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=create,namespace=webhook
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;update,resourceNames=vela-infra-step-runner-webhook-cert,namespace=webhook
