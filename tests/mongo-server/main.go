// Command ferretdb-sqlite runs an embedded FerretDB (v1, SQLite backend) that
// speaks the MongoDB wire protocol. It exists only so the project's tests can
// talk to a real MongoDB-compatible server; see scripts/mongo-server.
//
// Usage:
//
//	ferretdb-sqlite -listen 127.0.0.1:27017 -dir /tmp/data [-addr-file FILE] [-log-level warn]
//
// With -listen 127.0.0.1:0 the kernel picks a free port; -addr-file then tells
// which (the file appears, atomically, once the port accepts connections).
// It stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "directory for the SQLite data files (created if missing)")
	addrFile := flag.String("addr-file", "", "if set, write the bound host:port to this file once listening")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "ferretdb-sqlite: unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}

	if err := run(*listen, *dir, *addrFile, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-sqlite: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, dir, addrFile, logLevel string) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", logLevel, err)
	}

	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}

	if err = os.MkdirAll(abs, 0o755); err != nil {
		return err
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Telemetry: the embeddable package never runs the telemetry reporter and
	// disables it explicitly in New, so there is nothing to configure here.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: listen},
		Logger:   logger,
		Handler:  "sqlite",
		// SQLite URI of a directory: must end with a slash.
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return err
	}

	// New has already bound the listener, so the port accepts connections
	// from here on; Run serves them until ctx is canceled.
	if addrFile != "" {
		u, err := url.Parse(f.MongoDBURI())
		if err != nil {
			return err
		}

		if err = writeFileAtomic(addrFile, u.Host+"\n"); err != nil {
			return err
		}
	}

	if err = f.Run(ctx); err != nil {
		return err
	}

	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames it,
// so that readers never see a partial file.
func writeFileAtomic(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}

	return os.Rename(tmp, path)
}
