package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/keepclear/keepclear/internal/auth"
)

func runMigrate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "config file of name = value lines")
	dsn := dbFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := applyConfig(fs, *config); err != nil {
		fmt.Fprintf(stderr, "migrate: %v\n", err)
		return 2
	}
	st, kind, err := openStore(ctx, *dsn) // opening applies the migrations
	if err != nil {
		fmt.Fprintf(stderr, "migrate: %v\n", err)
		return 1
	}
	defer st.Close()
	fmt.Fprintf(stdout, "migrate: %s is up to date\n", kind)
	return 0
}

func runToken(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	usage := "usage: keepclear token create --role ROLE [--agency NAME] [--name LABEL] [--owntracks-key SECRET] [--db DSN]\n" +
		"       keepclear token list [--db DSN]\n       keepclear token revoke [--db DSN] ID"
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "config file of name = value lines")
	dsn := dbFlag(fs)
	role := fs.String("role", "", "agency, liaison, manager, researcher or admin")
	agency := fs.String("agency", "", "the agency an agency token submits for")
	name := fs.String("name", "", "a label for the token (shown as an annotation's author)")
	otKey := fs.String("owntracks-key", "", "agency tokens: the \"Encryption key\" set in the agency's OwnTracks apps (stored sealed under the token)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := applyConfig(fs, *config); err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 2
	}
	st, _, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 1
	}
	defer st.Close()
	if args[0] == "revoke" {
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || fs.NArg() != 1 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		if err := st.RevokeToken(ctx, id); err != nil {
			fmt.Fprintf(stderr, "token: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "token %d revoked (a running server stops accepting it within 30 s)\n", id)
		return 0
	}
	if args[0] == "list" {
		list, err := st.Tokens(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "token: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tAGENCY\tNAME\tOWNTRACKS KEY\tCREATED")
		for _, t := range list {
			ot := "-"
			if len(t.OwnTracksKey) > 0 {
				ot = "set"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Agency, t.Name, ot, t.CreatedAt.Format("2006-01-02 15:04"))
		}
		tw.Flush()
		return 0
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 2
	}
	if *name == "" {
		*name = string(r)
		if *agency != "" {
			*name += " " + *agency
		}
	}
	var opts []auth.Option
	if *otKey != "" {
		opts = append(opts, auth.WithOwnTracksKey(*otKey))
	}
	tok, _, err := auth.Create(ctx, st, *name, r, *agency, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// runHealthcheck is for container health checks on an image without curl.
func runHealthcheck(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "URL that must answer 200")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", *url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		fmt.Fprintln(stderr, "healthcheck:", resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
