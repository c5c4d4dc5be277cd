package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const workflowsUsage = `Usage:
  switchboard workflows export ID [--out FILE]   write a workflow as an export document (JSON)
  switchboard workflows import [FILE]            create a workflow, disabled, from an export document
                                                 (FILE "-" or none: standard input)

These talk to a running node's API:
  --api URL      the node's base URL (SWITCHBOARD_API; default http://127.0.0.1:8080)
  --token T      an API key or access token (SWITCHBOARD_TOKEN); exporting needs
                 workflows:read, importing workflows:write
`

// cmdWorkflows exports and imports workflows through the API, so it works
// against any node (and any deployment) with a credential, like the
// dashboard does.
func cmdWorkflows(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, workflowsUsage)
		if len(args) == 0 {
			return exitError{2, "workflows: export or import?"}
		}
		return nil
	}
	fs := flag.NewFlagSet("workflows "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", envOr(getenv, "SWITCHBOARD_API", "http://127.0.0.1:8080"), "the node's base URL")
	token := fs.String("token", getenv("SWITCHBOARD_TOKEN"), "an API key or access token")
	out := fs.String("out", "", "export: write to this file instead of standard output")
	// Flags may come before or after the arguments.
	var rest []string
	for list := args[1:]; ; {
		if err := fs.Parse(list); err != nil {
			return err
		}
		list = fs.Args()
		if len(list) == 0 {
			break
		}
		rest, list = append(rest, list[0]), list[1:]
	}
	if *token == "" {
		return exitError{2, "workflows: a credential is needed: --token or SWITCHBOARD_TOKEN"}
	}
	c := apiClient{base: strings.TrimRight(*api, "/"), token: *token, http: &http.Client{Timeout: time.Minute}}
	switch args[0] {
	case "export":
		if len(rest) != 1 {
			return exitError{2, "workflows export: give one workflow id"}
		}
		data, err := c.call(ctx, "GET", "/api/v1/workflows/"+rest[0]+"/export", nil)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "  "); err != nil {
			return fmt.Errorf("workflows export: the answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		if *out == "" {
			_, err = stdout.Write(buf.Bytes())
			return err
		}
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("workflows export: %w", err)
		}
		fmt.Fprintf(stderr, "exported %s to %s\n", rest[0], *out)
		return nil
	case "import":
		if len(rest) > 1 {
			return exitError{2, "workflows import: give at most one file"}
		}
		in := stdin
		if len(rest) == 1 && rest[0] != "-" {
			f, err := os.Open(rest[0])
			if err != nil {
				return fmt.Errorf("workflows import: %w", err)
			}
			defer f.Close()
			in = f
		}
		body, err := io.ReadAll(io.LimitReader(in, 4<<20))
		if err != nil {
			return fmt.Errorf("workflows import: %w", err)
		}
		data, err := c.call(ctx, "POST", "/api/v1/workflows/import", body)
		if err != nil {
			return err
		}
		var w struct{ ID, Name string }
		if err := json.Unmarshal(data, &w); err != nil {
			return fmt.Errorf("workflows import: the answer is not a workflow: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", w.ID)
		fmt.Fprintf(stderr, "imported %q as %s (disabled: enable it to start its triggers)\n", w.Name, w.ID)
		return nil
	}
	fmt.Fprint(stderr, workflowsUsage)
	return exitError{2, fmt.Sprintf("workflows: unknown command %q", args[0])}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

type apiClient struct {
	base, token string
	http        *http.Client
}

// call sends a request to the API and returns the envelope's data, or an
// error carrying the envelope's message and field errors.
func (c apiClient) call(ctx context.Context, method, path string, body []byte) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("bad --api URL: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the API: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details struct {
				Fields []struct{ Field, Message string } `json:"fields"`
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("the API answered %d with no JSON envelope (is --api a Switchboard node?)", res.StatusCode)
	}
	if env.Error != nil {
		msg := fmt.Sprintf("%s (%d %s)", env.Error.Message, res.StatusCode, env.Error.Code)
		for _, f := range env.Error.Details.Fields {
			msg += fmt.Sprintf("\n  %s: %s", f.Field, f.Message)
		}
		return nil, exitError{1, msg}
	}
	return env.Data, nil
}
