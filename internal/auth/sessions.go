package auth

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/session"
	"github.com/orgql/orgql/internal/httpx"
	"github.com/orgql/orgql/internal/token"
	"github.com/orgql/orgql/internal/viewer"
)

// SessionOptions set session lifetimes.
type SessionOptions struct {
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in, whatever its use.
	MaxAge time.Duration
	// TrustProxy takes the client address and scheme from X-Forwarded-For and
	// X-Forwarded-Proto.
	TrustProxy bool
}

// touchEvery limits last-seen writes to one per session per minute: idle expiry
// does not need finer resolution, and a write per request would double the load.
const touchEvery = time.Minute

// Sessions creates, authenticates and revokes sessions.
type Sessions struct {
	client *ent.Client
	drv    dialect.Driver // the client's, for the one hand-written lookup
	opts   SessionOptions
	log    *slog.Logger
	now    func() time.Time
}

// NewSessions returns a session manager over client and the driver it runs on.
func NewSessions(client *ent.Client, drv dialect.Driver, opts SessionOptions, log *slog.Logger) *Sessions {
	return &Sessions{client: client, drv: drv, opts: opts, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// SetClock replaces the clock (tests move time forward to expire sessions).
func (s *Sessions) SetClock(now func() time.Time) { s.now = now }

// Now returns the current time on the session clock.
func (s *Sessions) Now() time.Time { return s.now() }

// Create starts a session for userID with client (pass a transaction's client to make
// it part of one) and returns its token: the only time the token exists in clear.
func (s *Sessions) Create(ctx context.Context, client *ent.Client, userID string) (string, *ent.Session, error) {
	req := RequestFromContext(ctx)
	tok, hash := token.New()
	now := s.now()
	sess, err := client.Session.Create().
		SetTokenHash(hash).
		SetUserID(userID).
		SetUserAgent(truncate(req.UserAgent, 512)).
		SetIP(truncate(req.IP, 64)).
		SetCreatedAt(now).
		SetLastSeenAt(now).
		SetExpiresAt(now.Add(s.opts.MaxAge)).
		Save(viewer.System(ctx))
	if err != nil {
		return "", nil, fmt.Errorf("creating session: %w", err)
	}
	return tok, sess, nil
}

// Authenticate returns the viewer of a session token, or nil when the token is
// unknown, revoked or expired.
func (s *Sessions) Authenticate(ctx context.Context, tok string) (*viewer.Viewer, error) {
	if !token.Plausible(tok) {
		return nil, nil
	}
	sctx := viewer.System(ctx)
	sess, err := s.lookup(ctx, token.Hash(tok))
	if err != nil {
		return nil, fmt.Errorf("looking up session: %w", err)
	}
	if sess == nil {
		return nil, nil
	}
	now := s.now()
	if !s.alive(sess, now) {
		// Expired sessions are deleted on sight; the janitor gets the rest.
		if _, err := s.client.Session.Delete().Where(session.ID(sess.ID)).Exec(sctx); err != nil {
			s.log.WarnContext(ctx, "deleting expired session", "err", err)
		}
		return nil, nil
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		// Best effort: a failed touch only shortens the idle window.
		if err := s.client.Session.Update().Where(session.ID(sess.ID)).SetLastSeenAt(now).Exec(sctx); err != nil {
			s.log.WarnContext(ctx, "touching session", "err", err)
		} else {
			sess.LastSeenAt = now
		}
	}
	return &viewer.Viewer{User: sess.Edges.User, Session: sess}, nil
}

// sessionQuery reads a session and its user with one indexed statement (the
// unique token hash, then the user's primary key). Its columns are every column of
// both tables, in the order lookup scans them; a test keeps the two in step with
// the schema.
const sessionQuery = `SELECT s.id, s.token_hash, s.user_id, s.active_organization_id, s.user_agent, s.ip,
 s.created_at, s.expires_at, s.last_seen_at,
 u.id, u.created_at, u.updated_at, u.email, u.name, u.image_url, u.email_verified_at, u.password_hash,
 u.organization_count
FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`

// lookup returns the session with this token hash with its user loaded, or nil.
func (s *Sessions) lookup(ctx context.Context, hash string) (*ent.Session, error) {
	var rows entsql.Rows
	if err := s.drv.Query(ctx, sessionQuery, []any{hash}, &rows); err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var (
		sess          ent.Session
		u             ent.User
		active, image sql.NullString
		verified      sql.NullTime
	)
	if err := rows.Scan(&sess.ID, &sess.TokenHash, &sess.UserID, &active, &sess.UserAgent, &sess.IP,
		&sess.CreatedAt, &sess.ExpiresAt, &sess.LastSeenAt,
		&u.ID, &u.CreatedAt, &u.UpdatedAt, &u.Email, &u.Name, &image, &verified, &u.PasswordHash,
		&u.OrganizationCount); err != nil {
		return nil, err
	}
	if active.Valid {
		sess.ActiveOrganizationID = &active.String
	}
	if image.Valid {
		u.ImageURL = &image.String
	}
	if verified.Valid {
		t := verified.Time
		u.EmailVerifiedAt = &t
	}
	sess.Edges.User = &u
	return &sess, rows.Close()
}

// alive reports whether sess is within both its idle and absolute lifetime.
func (s *Sessions) alive(sess *ent.Session, now time.Time) bool {
	return now.Before(sess.ExpiresAt) && now.Before(sess.LastSeenAt.Add(s.opts.IdleTimeout))
}

// ExpiresAt returns when sess ends if it stays in use.
func (s *Sessions) ExpiresAt(sess *ent.Session) time.Time { return sess.ExpiresAt }

// Revoke ends one session.
func (s *Sessions) Revoke(ctx context.Context, client *ent.Client, id string) (int, error) {
	return client.Session.Delete().Where(session.ID(id)).Exec(viewer.System(ctx))
}

// RevokeUser ends every session of a user except keepID (may be empty) and returns
// the IDs of the sessions it ended.
func (s *Sessions) RevokeUser(ctx context.Context, client *ent.Client, userID, keepID string) ([]string, error) {
	sctx := viewer.System(ctx)
	q := client.Session.Query().Where(session.UserID(userID))
	if keepID != "" {
		q.Where(session.IDNEQ(keepID))
	}
	ids, err := q.IDs(sctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	_, err = client.Session.Delete().Where(session.IDIn(ids...)).Exec(sctx)
	return ids, err
}

// Live returns which of the session IDs are alive (exist and have not expired), and
// marks them used now: an open websocket keeps its session from going idle.
func (s *Sessions) Live(ctx context.Context, ids []string) (map[string]bool, error) {
	sctx := viewer.System(ctx)
	live := make(map[string]bool, len(ids))
	now := s.now()
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		list, err := s.client.Session.Query().Where(session.IDIn(chunk...)).All(sctx)
		if err != nil {
			return nil, err
		}
		var touch []string
		for _, sess := range list {
			if s.alive(sess, now) {
				live[sess.ID] = true
				touch = append(touch, sess.ID)
			}
		}
		if len(touch) > 0 {
			if err := s.client.Session.Update().Where(session.IDIn(touch...)).SetLastSeenAt(now).Exec(sctx); err != nil {
				return nil, err
			}
		}
	}
	return live, nil
}

// DeleteExpired removes sessions past their absolute or idle expiry.
func (s *Sessions) DeleteExpired(ctx context.Context) (int, error) {
	now := s.now()
	return s.client.Session.Delete().
		Where(session.Or(session.ExpiresAtLTE(now), session.LastSeenAtLTE(now.Add(-s.opts.IdleTimeout)))).
		Exec(viewer.System(ctx))
}

// Middleware authenticates each request from its Bearer header or session cookie and
// records the request details the GraphQL layer needs. A request without a valid
// session proceeds anonymously; operations that need a user refuse it.
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &Request{
			IP:        ClientIP(r, s.opts.TrustProxy),
			UserAgent: r.UserAgent(),
			Secure:    isSecure(r, s.opts.TrustProxy),
			w:         w,
		}
		// Every request gets a viewer slot, so signing in can fill it mid-request.
		ctx := viewer.NewContext(withRequest(r.Context(), req), nil)
		tok, fromCookie := tokenFrom(r)
		req.FromCookie = fromCookie
		if tok != "" {
			v, err := s.Authenticate(ctx, tok)
			if err != nil {
				httpx.InternalError(w, r, s.log, "authenticating request", err)
				return
			}
			if v == nil {
				req.CredentialRejected = true
				if fromCookie {
					ClearSessionCookie(ctx)
				}
			} else {
				viewer.Replace(ctx, v)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
