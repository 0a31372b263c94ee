package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flagSet wraps flag.FlagSet so that every flag may take its default from an
// environment variable. A bad value, from a flag or the environment, is an
// error naming where it came from; never a silent fallback.
type flagSet struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
}

func newFlagSet(name string, getenv func(string) string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &flagSet{FlagSet: fs, getenv: getenv}
}

func envHelp(env, usage string) string {
	if env == "" {
		return usage
	}
	return fmt.Sprintf("%s (env %s)", usage, env)
}

func (f *flagSet) String(name, env, def, usage string) *string {
	if v := f.lookup(env); v != "" {
		def = v
	}
	return f.FlagSet.String(name, def, envHelp(env, usage))
}

func (f *flagSet) Int(name, env string, def int, usage string) *int {
	if v := f.lookup(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a whole number", env, v))
		}
		def = n
	}
	return f.FlagSet.Int(name, def, envHelp(env, usage))
}

func (f *flagSet) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	if v := f.lookup(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration (e.g. 30s)", env, v))
		}
		def = d
	}
	return f.FlagSet.Duration(name, def, envHelp(env, usage))
}

func (f *flagSet) lookup(env string) string {
	if env == "" {
		return ""
	}
	return strings.TrimSpace(f.getenv(env))
}

// parse parses args and reports the first bad environment value.
func (f *flagSet) parse(args []string) error {
	rest, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.Name(), rest[0])
	}
	return nil
}

// parseArgs parses the flags and returns the arguments after them.
func (f *flagSet) parseArgs(args []string) ([]string, error) {
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if len(f.errs) > 0 {
		return nil, f.errs[0]
	}
	return f.Args(), nil
}

// positive reports an error naming the flag unless every value is > 0.
func positive(vals map[string]int) error {
	for name, v := range vals {
		if v <= 0 {
			return fmt.Errorf("--%s must be greater than 0, got %d", name, v)
		}
	}
	return nil
}
