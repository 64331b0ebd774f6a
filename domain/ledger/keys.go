package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
)

// APIKeyInfo is one of a tenant's API keys as listed: never its secret or
// hash.
type APIKeyInfo struct {
	ID        string
	CreatedAt time.Time
}

// ListAPIKeys returns a tenant's API keys in force (issued and not
// revoked), oldest first.
func (s *Service) ListAPIKeys(tenantID string) ([]APIKeyInfo, error) {
	if _, err := s.tenant(tenantID); err != nil {
		return nil, err
	}
	out := []APIKeyInfo{}
	for id, rec := range s.state.Load().apiKeys {
		if rec.TenantID == tenantID {
			out = append(out, APIKeyInfo{ID: id, CreatedAt: rec.CreatedAt})
		}
	}
	slices.SortFunc(out, func(a, b APIKeyInfo) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RevokeAPIKey revokes one of a tenant's API keys (ApiKeyRevoked): once it
// returns, the key no longer authenticates (AuthenticateAPIKey finds it in
// the snapshot on every request; its cached verifications are dropped). A
// key that is not the tenant's, or already revoked, is ErrNotFound.
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID, keyID string) error {
	if _, err := s.tenant(tenantID); err != nil {
		return err
	}
	if rec, ok := s.state.Load().apiKeys[keyID]; !ok || rec.TenantID != tenantID {
		return fmt.Errorf("api key %q of tenant %q: %w", keyID, tenantID, ErrNotFound)
	}
	_, err := s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, events.ApiKeyRevoked{
		TenantID: tenantID, KeyID: keyID, At: s.clock().UTC(),
	})
	if err != nil {
		return fmt.Errorf("revoke api key %q of %q: %w", keyID, tenantID, err)
	}
	return nil
}

// apiKeyIssuedAt keeps the issue time of a key apiKeyIssued has just
// added.
func apiKeyIssuedAt(cur, orig *state, e events.ApiKeyIssued) *state {
	rec, ok := cur.apiKeys[e.KeyID]
	if !ok || rec.TenantID != e.TenantID || rec.Hash != e.KeyHash || rec.CreatedAt.Equal(e.At) {
		return cur
	}
	rec.CreatedAt = e.At
	cur = mutable(cur, orig)
	cur.apiKeys = cloneMap(cur.apiKeys)
	cur.apiKeys[e.KeyID] = rec
	return cur
}

// apiKeyRevoked drops a revoked key from the snapshot and its verified
// uses from the authentication cache.
func (f *follower) apiKeyRevoked(cur, orig *state, e events.ApiKeyRevoked) *state {
	rec, ok := cur.apiKeys[e.KeyID]
	if !ok || rec.TenantID != e.TenantID {
		return cur
	}
	cur = mutable(cur, orig)
	cur.apiKeys = cloneMap(cur.apiKeys)
	delete(cur.apiKeys, e.KeyID)
	f.s.auth.forget(rec.TenantID, rec.Hash)
	return cur
}
