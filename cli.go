package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/reportbot/reportbot/config"
)

// The commands of the command line; the bot runs when there is none.
const (
	cmdRun         = ""
	cmdVersion     = "version"
	cmdHealthcheck = "healthcheck"
	cmdHelp        = "help"
)

const usage = `Usage: reportbot [command]

reportbot is a Discord bot that lets players report the players they met in a match
and forwards each report to the game's report API. Every setting is an environment
variable, listed below (.env.example has them all); a bad one stops start-up with
one line per bad variable.

Commands:
  (none)       run the bot until SIGTERM or SIGINT
  version      print the version, the commit and the Go version
  healthcheck  exit 0 if the bot on HTTP_ADDR is ready (GET /readyz answers 200 within
               3 s), 1 if not: the Docker healthcheck, for images without curl
  help         print this help (also -h and --help) and start nothing

Exit status: 0 on success, 2 for a bad command line or configuration, 1 otherwise.

Environment (NAME=default):
`

// usageError is a command line reportbot does not understand.
type usageError struct{ problem string }

func (e usageError) Error() string { return e.problem }

// command reads the command line, without the program's name.
func command(args []string) (string, error) {
	if len(args) == 0 {
		return cmdRun, nil
	}
	if len(args) > 1 {
		return "", usageError{fmt.Sprintf("unexpected argument %q after %q", args[1], args[0])}
	}
	switch args[0] {
	case cmdVersion, cmdHealthcheck:
		return args[0], nil
	case cmdHelp, "-h", "-help", "--help":
		return cmdHelp, nil
	}
	return "", usageError{fmt.Sprintf("unknown argument %q", args[0])}
}

// writeUsage writes the help: the commands, then every variable with its default.
func writeUsage(w io.Writer) error {
	if _, err := io.WriteString(w, usage); err != nil {
		return err
	}
	return config.WriteVars(w)
}

// exitCode tells the operator what went wrong, on stderr, and returns the process's
// exit status: 0 when nothing did; 2 for a bad command line (with the usage) or a bad
// configuration (one line per bad or missing variable, "reportbot: NAME: problem");
// 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	var bad config.Errors
	var cli usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &bad):
		for _, e := range bad {
			fmt.Fprintln(stderr, "reportbot:", e)
		}
		return 2
	case errors.As(err, &cli):
		fmt.Fprintf(stderr, "reportbot: %s\n\n", cli.problem)
		_ = writeUsage(stderr)
		return 2
	}
	fmt.Fprintln(stderr, "reportbot:", err)
	return 1
}
