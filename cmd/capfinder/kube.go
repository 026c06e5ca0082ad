package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/cmd/capfinder/kube"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/datasets"
)

// catKube groups kube's own flags in its help.
const catKube = "Kubernetes"

func kubeCommand() *cli.Command {
	return &cli.Command{
		Name:      "kube",
		Usage:     "print the Kubernetes objects that run a coordinator and N agents against a service",
		ArgsUsage: "URL",
		UsageText: `capfinder kube [run options] --agents N [options] URL

   capfinder kube --agents 4 --max-rt 100ms http://shop.prod:8080/predict | kubectl apply -f -
   capfinder kube --agents 8 --image registry.example.com/capfinder:v1 -H 'Authorization: Bearer ${TOKEN}' URL
   capfinder kube --agents 4 --spec run.json --claim shared-runs     # a recorded run again, on a claim that exists`,
		Description: `Prints, as YAML for kubectl apply, a ConfigMap NAME-spec holding the run's
spec.json; a Job NAME-coordinator that runs 'capfinder run --spec ... --agents N'
and its Service; an Indexed Job NAME-agents of N 'capfinder agent' pods, spread
over the nodes, with a headless Service; and a ReadWriteMany claim NAME-runs
(unless --claim names one) where they write the run directory, /runs/NAME.
No pod is restarted: a failed agent ends the run with what was recorded.

The run options are checked as run checks them. A header whose value run.json
would redact must be given as ${VAR}: every pod reads VAR from the key VAR of
the Secret --secret, which you create; a literal one is refused.`,
		Flags: kubeFlags(),
		Action: func(c *cli.Context) error {
			s, err := specFromFlags(c)
			if err != nil {
				return err
			}
			if err := runner.CheckFleet(s, c.Int("agents")); err != nil {
				return usageError("kube: %v", err)
			}
			if c.String("claim") != "" && (c.IsSet("claim-size") || c.IsSet("storage-class")) {
				return usageError("kube: --claim names a claim that exists; --claim-size and --storage-class are for the one kube makes")
			}
			body, err := requestBody(s)
			if err != nil {
				return usageError("kube: %v", err)
			}
			objs, err := kube.Objects(kube.Config{
				Name: c.String("name"), Namespace: c.String("namespace"), Image: c.String("image"),
				Agents: c.Int("agents"), Port: c.Int("port"),
				Claim: c.String("claim"), ClaimSize: c.String("claim-size"), StorageClass: c.String("storage-class"),
				Secret: c.String("secret"), Spec: s, Body: body,
			})
			if err != nil {
				return usageError("kube: %v", err)
			}
			return kube.WriteYAML(c.App.Writer, objs)
		},
	}
}

// kubeFlags are run's options that make the spec, then kube's own: those
// of a run in one process (its directory, progress, dashboard, agents
// spawned or listened for) are the Jobs'.
func kubeFlags() []cli.Flag {
	local := []string{"agents", "agent-listen", "spawn", "out", "quiet", "listen", "listen-public"}
	flags := slices.DeleteFunc(runFlags(), func(f cli.Flag) bool { return slices.Contains(local, f.Names()[0]) })
	return append(flags,
		&cli.IntFlag{Name: "agents", Category: catKube, Usage: "agent pods sending the load, each its share of one schedule; at least 1"},
		&cli.StringFlag{Name: "name", Value: kube.DefaultName, Category: catKube, Usage: "names the objects (NAME-coordinator, NAME-agents, …) and the run directory, /runs/NAME on the claim"},
		&cli.StringFlag{Name: "namespace", Value: kube.DefaultNamespace, Category: catKube, Usage: "namespace of the objects"},
		&cli.StringFlag{Name: "image", Value: "capfinder:" + version, Category: catKube, Usage: "container image with capfinder on its PATH (build and push it; see README)"},
		&cli.IntFlag{Name: "port", Value: kube.DefaultPort, Category: catKube, Usage: "the coordinator's port the agents connect to"},
		&cli.StringFlag{Name: "claim", Category: catKube, Usage: "an existing ReadWriteMany PersistentVolumeClaim for the run directory (default: make NAME-runs)"},
		&cli.StringFlag{Name: "claim-size", Value: kube.DefaultClaimSize, Category: catKube, Usage: "size of the claim kube makes"},
		&cli.StringFlag{Name: "storage-class", Category: catKube, Usage: "storage class of the claim kube makes, one that offers ReadWriteMany (default: the cluster's)"},
		&cli.StringFlag{Name: "secret", Category: catKube, Usage: "the Secret the headers' ${VAR}s are read from, a key per variable (default NAME-secrets)"},
	)
}

// requestBody is the one body s sends, for the ConfigMap to carry: its
// text, its base64 decoded, or its file's bytes (read here, as the pods
// have not the file); nil when the requests come from elsewhere.
func requestBody(s runner.Spec) ([]byte, error) {
	switch {
	case s.Body != "":
		return []byte(s.Body), nil
	case s.DataBase64 != "":
		b, err := datasets.Base64(s.DataBase64)
		if err != nil {
			return nil, fmt.Errorf("--data-base64: %v", err)
		}
		return b, nil
	case s.BodyFile != "":
		b, err := os.ReadFile(s.BodyFile)
		if err != nil {
			return nil, fmt.Errorf("--body: %v", err)
		}
		return b, nil
	}
	return nil, nil
}
