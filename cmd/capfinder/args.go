package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves flags that follow a command's positional arguments in
// front of them. urfave/cli stops reading flags at the first positional
// argument, so `capfinder run URL --rate 5` would otherwise silently
// ignore --rate. A flag's value is taken from the next argument unless the
// flag is boolean or written as --name=value; "--" ends the flags.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Walk down the command path: capfinder [global flags] cmd [sub] ...
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd := findCommand(app.Commands, rest[0])
		if cmd == nil {
			break
		}
		if len(cmd.Subcommands) == 0 {
			out = append(out, rest[0])
			return append(out, reorder(cmd.Flags, rest[1:])...)
		}
		out = append(out, rest[0])
		app = &cli.App{Commands: cmd.Subcommands}
		rest = rest[1:]
	}
	return append(out, rest...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func reorder(defs []cli.Flag, args []string) []string {
	isBool := map[string]bool{}
	for _, f := range defs {
		_, b := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			isBool[n] = b
		}
	}
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			return append(append(flags, "--"), pos...)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if b, known := isBool[name]; known && !b && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 {
		// "--" keeps a positional that starts with a dash from being read
		// as a flag.
		flags = append(flags, "--")
	}
	return append(flags, pos...)
}
