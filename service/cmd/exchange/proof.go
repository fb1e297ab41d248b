package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// maxProofFile bounds what verify-proof reads: a proof of a billion
// accounts with a hundred assets is well under a megabyte.
const maxProofFile = 16 << 20

// runVerifyProof checks a proof-of-liabilities proof file offline, with
// no database and no network: it recomputes the path from the leaf to
// the root as docs/proof-of-liabilities.md says, and compares the root
// with --root, the one the exchange publishes, when given.
func runVerifyProof(_ context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("verify-proof", flag.ContinueOnError)
	wantRoot := fs.String("root", "", "the root hash the exchange publishes for the proof's snapshot (64 hex digits); the proof must lead to it")
	file, rest := proofFileArg(args)
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if file == "" {
		return usageError{errors.New("give the proof file: exchange verify-proof [--root HEX] FILE (- reads stdin)")}
	}
	if *wantRoot != "" {
		if b, err := hex.DecodeString(*wantRoot); err != nil || len(b) != 32 {
			return usageError{fmt.Errorf("--root %q is not 64 hexadecimal digits", *wantRoot)}
		}
	}
	raw, err := readProofFile(env, file)
	if err != nil {
		return err
	}
	var p sumtree.Proof
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		fmt.Fprintf(env.stdout, "FAIL  %s is not a proof: %v\n", file, err)
		return errFailedCheck
	}
	v, err := sumtree.Verify(p)
	if err != nil {
		fmt.Fprintf(env.stdout, "FAIL  %v\n", err)
		return errFailedCheck
	}
	root := hex.EncodeToString(v.Root[:])
	fmt.Fprintf(env.stdout, "ok    user %d's leaf in snapshot %s (taken %s, %d accounts) leads to root %s\n",
		v.UserID, p.Snapshot.ID, v.TakenAt.Format(sumtree.TimeFormat), v.Accounts, root)
	fmt.Fprintf(env.stdout, "      balances: %s\n      totals:   %s\n", amounts(v.Assets, v.Balances), amounts(v.Assets, v.Totals))
	switch {
	case *wantRoot == "":
		fmt.Fprintf(env.stdout, "      compare the root with the one the exchange publishes for snapshot %s (GET /api/v1/proof, the /proof page), or pass it with --root\n", p.Snapshot.ID)
	case !strings.EqualFold(*wantRoot, root):
		fmt.Fprintf(env.stdout, "FAIL  the proof leads to root %s, not to the published root %s\n", root, strings.ToLower(*wantRoot))
		return errFailedCheck
	default:
		fmt.Fprintf(env.stdout, "ok    the root is the published one given with --root\n")
	}
	return nil
}

// proofFileArg takes the FILE argument out of args, wherever it stands
// among the flags, so that both `verify-proof FILE --root R` and
// `verify-proof --root R FILE` work; the rest goes to the flag parser,
// which refuses anything else.
func proofFileArg(args []string) (file string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--root" || a == "-root":
			rest = append(rest, a)
			if i+1 < len(args) {
				rest = append(rest, args[i+1])
				i++
			}
		case file == "" && (a == "-" || !strings.HasPrefix(a, "-")):
			file = a
		default:
			rest = append(rest, a)
		}
	}
	return file, rest
}

func readProofFile(env *environment, name string) ([]byte, error) {
	var r io.Reader = env.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read the proof: %w", err)
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxProofFile+1))
	if err != nil {
		return nil, fmt.Errorf("read the proof: %w", err)
	}
	if len(raw) > maxProofFile {
		return nil, fmt.Errorf("read the proof: %s is over %d MiB, larger than any proof", name, maxProofFile>>20)
	}
	return raw, nil
}

func amounts(assets []sumtree.Asset, values []sumtree.U128) string {
	parts := make([]string, len(assets))
	for i, a := range assets {
		parts[i] = values[i].Decimal(a.Precision) + " " + a.Symbol
	}
	return strings.Join(parts, ", ")
}
