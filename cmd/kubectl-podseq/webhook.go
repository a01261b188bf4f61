package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/inject"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/version"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/webhook"
)

const webhookDescription = `Serves podseq's mutating admission webhook over HTTPS: the API server sends it every Pod
being created in a namespace labelled podseq.dev/inject=enabled that asks for an order, and
it answers with what podseq inject would have done to the pod (manifests/webhook installs it).

   POST /mutate          AdmissionReview admission.k8s.io/v1 of a Pod's CREATE: a JSONPatch
   POST /mutate/strict   the same, but a pod it cannot order is denied (namespaces labelled
                         podseq.dev/inject=strict)
   GET  /healthz         200 while it serves
   GET  /readyz          200 until it is asked to stop (SIGTERM), then 503
   GET  /metrics         Prometheus: podseq_webhook_reviews_total{result}, latency, certificate

It never blocks a pod unless strict: a pod it cannot order (a bad annotation, a container
that is not in the pod) is admitted unordered, with a warning that kubectl prints and the
annotation podseq.dev/not-injected saying why. The certificate (tls.crt, tls.key in
--cert-dir) is read again when it changes, with no restart. On SIGTERM it turns not ready,
serves on for --shutdown-delay, then finishes the reviews in flight and exits 0.

EXIT CODES:
   0     stopped by SIGTERM or SIGINT after draining
   1     could not serve: the address, or the certificate at start
   2     bad flag`

func webhookCommand() *cli.Command {
	return &cli.Command{
		Name:        "webhook",
		Usage:       "serve the admission webhook that orders pods as the API server creates them",
		ArgsUsage:   " ",
		Description: webhookDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", EnvVars: envName("webhook-listen"), Value: webhook.DefaultListen,
				Usage: "`ADDRESS` to serve HTTPS on"},
			&cli.StringFlag{Name: "cert-dir", EnvVars: envName("webhook-cert-dir"), Value: webhook.DefaultCertDir,
				Usage: "`DIR` holding tls.crt and tls.key (a mounted Secret), read again when they change"},
			&cli.BoolFlag{Name: "strict", EnvVars: envName("webhook-strict"),
				Usage: "deny a pod it cannot order on /mutate too (default: admit it unordered, with a warning)"},
			&cli.StringFlag{Name: "image", EnvVars: envName("webhook-image"), Value: version.DefaultImage(),
				Usage: "`IMAGE` of the init container that installs podseq into each pod: " + version.ImageReason()},
			&cli.DurationFlag{Name: "timeout", EnvVars: envName("webhook-timeout"), Value: probes.DefaultTimeout,
				Usage: "`DURATION`: the deadline of every wait written into a pod"},
			&cli.DurationFlag{Name: "shutdown-delay", EnvVars: envName("webhook-shutdown-delay"), Value: webhook.DefaultShutdownDelay,
				Usage: "`DURATION` it serves on, not ready, after SIGTERM, while the endpoints drop it"},
			&cli.StringFlag{Name: "mode", EnvVars: envName("webhook-mode"),
				Usage: "`MODE` gate, native or tombstone, for every pod (default: each pod's podseq.dev/mode, else as inject chooses); gate on Kubernetes 1.27 and 1.28, which run no native sidecars"},
			&cli.StringFlag{Name: "log-level", EnvVars: envName("webhook-log-level"), Value: "info",
				Usage: "`LEVEL`: debug, info, warn or error"},
		},
		Action:      webhookAction,
		Subcommands: []*cli.Command{certsCommand()},
	}
}

func webhookAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageOf("webhook", "no arguments (%q): flags only, or the command certs", c.Args().First())
	}
	if c.Duration("timeout") <= 0 {
		return usageOf("webhook", "--timeout %s: want a positive duration", c.Duration("timeout"))
	}
	if c.Duration("shutdown-delay") < 0 {
		return usageOf("webhook", "--shutdown-delay %s: want 0 or more", c.Duration("shutdown-delay"))
	}
	if c.String("image") == "" {
		return usageOf("webhook", "--image: empty")
	}
	o := inject.Options{Image: c.String("image"), Timeout: inject.FormatTimeout(c.Duration("timeout"))}
	if m := c.String("mode"); m != "" {
		mode, err := inject.ParseMode(m)
		if err != nil {
			return usageOf("webhook", "--mode: %v", err)
		}
		o.Mode = mode
	}
	log, err := newLogger(c.App.ErrWriter, c.String("log-level"))
	if err != nil {
		return usageOf("webhook", "%v", err)
	}
	s, err := webhook.New(webhook.Config{
		CertDir:       c.String("cert-dir"),
		Inject:        o,
		Strict:        c.Bool("strict"),
		ShutdownDelay: c.Duration("shutdown-delay"),
		Logger:        log,
	})
	if err != nil {
		return cli.Exit("podseq webhook: "+err.Error(), exitcode.WebhookFailed)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("podseq webhook: --listen %s: %v", c.String("listen"), err), exitcode.WebhookFailed)
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := s.Serve(ctx, ln); err != nil {
		return cli.Exit("podseq webhook: "+err.Error(), exitcode.WebhookFailed)
	}
	return nil
}

// usageOf returns a usage error (exit 2) of a command.
func usageOf(cmd, format string, a ...any) error {
	return cli.Exit("podseq "+cmd+": "+fmt.Sprintf(format, a...), exitcode.Usage)
}

// newLogger logs as key=value lines on w.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

const certsDescription = `Makes the webhook's certificates where no cert-manager is installed, through the Kubernetes
API with the pod's service account (manifests/webhook runs it as a Job and a weekly CronJob):

   1. the CA, in the Secret --ca-secret (made once; only this command reads it)
   2. the serving certificate for the Service --service, signed by the CA, in the Secret
      --tls-secret that the webhook mounts (tls.crt, tls.key, ca.crt); made again when it is
      missing, expires within --renew-before, is for other names, or with --renew
   3. the caBundle of every webhook of the MutatingWebhookConfiguration --webhook-config

Running it again changes nothing that is right. RBAC it needs: get, create and update on
the two Secrets in --namespace, and get and patch on the MutatingWebhookConfiguration.

EXIT CODES:
   0     done
   1     an API call failed (one line names it)
   2     bad flag`

func certsCommand() *cli.Command {
	return &cli.Command{
		Name:        "certs",
		Usage:       "make the webhook's CA and serving certificate into Secrets and set the caBundle",
		ArgsUsage:   " ",
		Description: certsDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "namespace", EnvVars: []string{"POD_NAMESPACE"}, Value: "podseq-system",
				Usage: "`NAMESPACE` of the Secrets and the Service"},
			&cli.StringFlag{Name: "service", EnvVars: envName("certs-service"), Value: "podseq-webhook",
				Usage: "`NAME` of the webhook's Service: the certificate's DNS names"},
			&cli.StringFlag{Name: "ca-secret", EnvVars: envName("certs-ca-secret"), Value: "podseq-webhook-ca",
				Usage: "`NAME` of the Secret holding the CA"},
			&cli.StringFlag{Name: "tls-secret", EnvVars: envName("certs-tls-secret"), Value: "podseq-webhook-tls",
				Usage: "`NAME` of the Secret holding the serving certificate"},
			&cli.StringFlag{Name: "webhook-config", EnvVars: envName("certs-webhook-config"), Value: "podseq",
				Usage: "`NAME` of the MutatingWebhookConfiguration whose caBundles are set"},
			&cli.DurationFlag{Name: "renew-before", EnvVars: envName("certs-renew-before"), Value: 60 * 24 * time.Hour,
				Usage: "`DURATION`: a serving certificate expiring sooner is made again"},
			&cli.BoolFlag{Name: "renew", EnvVars: envName("certs-renew"),
				Usage: "make the serving certificate again, whatever its state"},
		},
		Action: certsAction,
	}
}

func certsAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageOf("webhook certs", "no arguments (%q)", c.Args().First())
	}
	for _, f := range []string{"namespace", "service", "ca-secret", "tls-secret", "webhook-config"} {
		if c.String(f) == "" {
			return usageOf("webhook certs", "--%s: empty", f)
		}
	}
	if c.Duration("renew-before") < 0 || c.Duration("renew-before") >= webhook.ServingValidity {
		return usageOf("webhook certs", "--renew-before %s: want 0 up to the certificate's life, %s", c.Duration("renew-before"), webhook.ServingValidity)
	}
	k, err := webhook.InCluster(webhook.ServiceAccountDir)
	if err != nil {
		return cli.Exit("podseq webhook certs: "+err.Error(), exitcode.WebhookFailed)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	ctx, cancel := context.WithTimeout(c.Context, 2*time.Minute)
	defer cancel()
	err = webhook.EnsureCerts(ctx, k, webhook.CertsConfig{
		Namespace: c.String("namespace"), Service: c.String("service"),
		CASecret: c.String("ca-secret"), TLSSecret: c.String("tls-secret"), WebhookConfig: c.String("webhook-config"),
		RenewBefore: c.Duration("renew-before"), Renew: c.Bool("renew"), Logger: log,
	}, time.Now())
	if err != nil {
		return cli.Exit("podseq webhook certs: "+err.Error(), exitcode.WebhookFailed)
	}
	return nil
}

const unorderedDescription = `Lists the pods that ask for an order (an after.podseq.dev/ annotation) and do not have it:
those the webhook could not order (their podseq.dev/not-injected annotation says why) and
those it never saw, created while it was down or too slow (failurePolicy: Ignore admits them
as they are) or before their namespace was labelled. Delete such a pod, or restart its
workload, to have it made again through the webhook.

   kubectl podseq unordered                        # every namespace (kubectl get pods -A)
   kubectl podseq unordered -n shop
   kubectl get pods -A -o json | kubectl podseq unordered -f -

EXIT CODES:
   0     none found
   1     kubectl failed
   2     bad flag or input
   3     some found: one line each, NAMESPACE NAME REASON`

func unorderedCommand() *cli.Command {
	return &cli.Command{
		Name:        "unordered",
		Usage:       "list the pods that asked for an order and were not ordered (webhook down, or refused)",
		ArgsUsage:   " ",
		Description: unorderedDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, EnvVars: envName("unordered-namespace"),
				Usage: "`NAMESPACE` to look in (default: all)"},
			&cli.StringFlag{Name: "filename", Aliases: []string{"f"}, EnvVars: envName("unordered-filename"),
				Usage: "`FILE` holding a pod list (kubectl get pods -o json), - for standard input, instead of running kubectl"},
		},
		Action: unorderedAction,
	}
}

func unorderedAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageOf("unordered", "no arguments (%q)", c.Args().First())
	}
	var list []byte
	var err error
	if f := c.String("filename"); f != "" {
		if list, err = readInput(f, c.App.Reader); err != nil {
			return usageOf("unordered", "%v", err)
		}
	} else {
		args := []string{"get", "pods", "-o", "json"}
		if ns := c.String("namespace"); ns != "" {
			args = append(args, "-n", ns)
		} else {
			args = append(args, "--all-namespaces")
		}
		cmd := exec.CommandContext(c.Context, "kubectl", args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if list, err = cmd.Output(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return cli.Exit("podseq unordered: kubectl is not on $PATH: install it, or give a pod list with -f", exitcode.WebhookFailed)
			}
			return cli.Exit(fmt.Sprintf("podseq unordered: kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String())), exitcode.WebhookFailed)
		}
	}
	pods, err := webhook.FindUnordered(list)
	if err != nil {
		return usageOf("unordered", "%v", err)
	}
	if len(pods) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREASON")
	for _, p := range pods {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Namespace, p.Name, p.Reason)
	}
	if err := tw.Flush(); err != nil {
		return cli.Exit(fmt.Sprintf("podseq unordered: write the output: %v", err), exitcode.WebhookFailed)
	}
	return cli.Exit("", exitcode.Unordered)
}
