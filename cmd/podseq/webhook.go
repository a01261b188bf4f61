package main

import "github.com/urfave/cli/v2"

// webhookCommand runs kubectl-podseq webhook, as inject does: the webhook
// plans with inject's code, which stays out of this binary. podseq's image
// carries kubectl-podseq next to /podseq.
func webhookCommand() *cli.Command {
	return &cli.Command{
		Name:            "webhook",
		Usage:           "serve the admission webhook that orders pods as the API server creates them (runs " + injectBinary + ")",
		SkipFlagParsing: true,
		Action:          func(c *cli.Context) error { return execInjectBinary(c, "webhook") },
	}
}
