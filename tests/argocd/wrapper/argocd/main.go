// The Argo CD roles the tests run, in one binary (as upstream's cmd/main.go does): the role is
// $ARGOCD_BINARY_NAME (or the name the binary is called by). Only the roles the tests need are
// linked in: application-controller, applicationset-controller, repo-server, and git-ask-pass
// (the repo server's git credential helper, which git runs as `argocd` on the PATH).
// Without a role, `--version` prints the Argo CD module versions this binary was built from.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	applicationset "github.com/argoproj/argo-cd/v3/cmd/argocd-applicationset-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

// version: "argocd <version>" and each github.com/argoproj module of the build, as compiled.
func version() string {
	out := fmt.Sprintf("argocd %s", common.GetVersion().Version)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if filepath.Dir(dep.Path) == "github.com/argoproj/argo-cd" ||
				filepath.Dir(filepath.Dir(dep.Path)) == "github.com/argoproj/argo-cd" {
				out += fmt.Sprintf("\n  %s %s", dep.Path, dep.Version)
			}
		}
		out += "\n  " + info.GoVersion
	}
	return out
}

func main() {
	// Upstream's main calls util/grpc.DisableSRVLookups here, which undoes what
	// google.golang.org/grpc/balancer/grpclb turns on when it is linked in. None of these roles
	// links grpclb (the full binary gets it through the CLI and API server), so SRV lookups are
	// already off, and that function would panic on finding them off.
	role := filepath.Base(os.Args[0])
	if value := os.Getenv("ARGOCD_BINARY_NAME"); value != "" {
		role = value
	}
	var command *cobra.Command
	switch role {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandApplicationSetController:
		command = applicationset.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	case common.CommandGitAskPass:
		command = gitaskpass.NewCommand()
	default:
		if len(os.Args) == 2 && os.Args[1] == "--version" {
			fmt.Println(version())
			return
		}
		fmt.Fprintf(os.Stderr, "set ARGOCD_BINARY_NAME to %s, %s, %s or %s (or run --version)\n",
			common.CommandApplicationController, common.CommandApplicationSetController,
			common.CommandRepoServer, common.CommandGitAskPass)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
