// Package migrations holds smsledger's PostgreSQL schema as ordered SQL files
// (001_name.sql, 002_name.sql, …) embedded in the binary, and applies them
// with tern's migrate package.
//
// Apply brings a database up to the newest migration: each file runs once, in
// order, in its own transaction, and the version reached is recorded in
// public.schema_version. The whole run holds a PostgreSQL advisory lock, so
// concurrent Apply calls (several serve nodes starting at once) are safe: one
// applies, the others wait and then find nothing to do.
//
// Migration files are Go text/template text to tern: a literal "{{" in SQL must
// be written as {{"{{"}}. A file may end its forward part with the line
// "---- create above / drop below ----" followed by the reverse SQL.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// VersionTable records the schema version reached.
const VersionTable = "public.schema_version"

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// Apply applies every pending migration to the database at databaseURL.
func Apply(ctx context.Context, databaseURL string) error {
	return apply(ctx, databaseURL, files)
}

func apply(ctx context.Context, databaseURL string, fsys fs.FS) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("migrations: prepare %s: %w", VersionTable, err)
	}
	if err := m.LoadMigrations(fsys); err != nil {
		if errors.As(err, new(migrate.NoMigrationsFoundError)) {
			return nil
		}
		return fmt.Errorf("migrations: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}

// Version returns the schema version recorded in the database (0 before any
// migration) and the newest version embedded in this binary.
func Version(ctx context.Context, databaseURL string) (current, latest int32, err error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	names, err := migrate.FindMigrations(files)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: list: %w", err)
	}
	latest = int32(len(names))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", VersionTable).Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("migrations: read version: %w", err)
	}
	if !exists {
		return 0, latest, nil
	}
	if err := conn.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&current); err != nil {
		return 0, latest, fmt.Errorf("migrations: read version: %w", err)
	}
	return current, latest, nil
}
