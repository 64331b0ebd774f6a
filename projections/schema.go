package projections

import (
	"context"
	"fmt"
	"regexp"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// Schemas of the read models.
const (
	// LiveSchema holds the read models the runtime keeps up to date and the
	// queries read.
	LiveSchema = "readmodel"
	// ReplaySchema receives the rebuild of Replay.
	ReplaySchema = "readmodel_replay"
)

var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ident quotes a schema name after checking it is a plain identifier (schema
// names are spliced into SQL text).
func ident(schema string) string {
	if !schemaPattern.MatchString(schema) {
		panic(fmt.Sprintf("projections: invalid schema name %q", schema))
	}
	return pgx.Identifier{schema}.Sanitize()
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// recreateSchema drops schema (if present) and creates the read model tables
// in it with the DDL of the migrations (smsledger_create_read_models) for a
// bulk load: UNLOGGED tables without their secondary indexes, which
// createIndexes adds once the load is done.
func recreateSchema(ctx context.Context, db execer, schema string) error {
	if schema == LiveSchema {
		return fmt.Errorf("projections: refusing to recreate the live schema %q", schema)
	}
	if _, err := db.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident(schema)+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	if _, err := db.Exec(ctx, "SELECT smsledger_create_read_models($1, true)", schema); err != nil {
		return fmt.Errorf("create read models in schema %s: %w", schema, err)
	}
	return nil
}

// createIndexes builds the secondary indexes of the tables of a
// bulk-loaded schema.
func createIndexes(ctx context.Context, db execer, schema string, tables ...string) error {
	if _, err := db.Exec(ctx, "SELECT smsledger_create_read_model_indexes($1, $2)", schema, tables); err != nil {
		return fmt.Errorf("index %v in schema %s: %w", tables, schema, err)
	}
	return nil
}

// numeric converts an exact decimal to a pgtype.Numeric (for COPY).
func numeric(d decimal.Decimal) pgtype.Numeric {
	return pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}
}

// pgUUID converts a uuid to its pgtype form, which pgx encodes directly
// (uuid.UUID goes through driver.Valuer: text, then parsed again).
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }
