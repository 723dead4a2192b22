// Package account implements accounts: sign-up, sign-in and sign-out, email
// verification and password reset. Each method is one transaction; the email it
// causes is written to the outbox in that transaction.
package account

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/ent/usertoken"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/mail"
	"github.com/orgql/orgql/internal/password"
	"github.com/orgql/orgql/internal/ratelimit"
	"github.com/orgql/orgql/internal/token"
	"github.com/orgql/orgql/internal/validate"
	"github.com/orgql/orgql/internal/viewer"
)

// Options configure the account service.
type Options struct {
	// PublicURL is the portal front-end that email links point to.
	PublicURL string
	// VerificationTTL and ResetTTL are the lifetimes of mailed tokens.
	VerificationTTL time.Duration
	ResetTTL        time.Duration
	Limits          Limits
	// SharedLimits, when set, counts the limits across instances (in Redis).
	SharedLimits *ratelimit.Shared
	// SessionsEnded hears of sessions that ended (sign-out, password reset), so
	// their websockets close.
	SessionsEnded func(ctx context.Context, ids []string)
}

// Limits are the rate limits of the account operations (events per window).
// A zero count disables that limit.
type Limits struct {
	SignInPerIP        int // per minute
	SignInPerAccount   int // failed attempts per 15 minutes; a success clears them
	SignUpPerIP        int // per hour
	ResetPerIP         int // per hour
	ResetPerAccount    int // per hour
	VerifyMailsPerUser int // per hour
}

// DefaultLimits are the production limits.
var DefaultLimits = Limits{
	SignInPerIP:        30,
	SignInPerAccount:   10,
	SignUpPerIP:        20,
	ResetPerIP:         20,
	ResetPerAccount:    3,
	VerifyMailsPerUser: 5,
}

// Service implements the account operations.
type Service struct {
	db       *database.DB
	hasher   *password.Hasher
	sessions *auth.Sessions
	notify   func()
	opts     Options
	log      *slog.Logger

	signInIP, signInAccount *ratelimit.Limiter
	signUpIP                *ratelimit.Limiter
	resetIP, resetAccount   *ratelimit.Limiter
	verifyUser              *ratelimit.Limiter
	invitations             Invitations
}

// New returns the account service. notify is called after a transaction that queued
// email commits, to wake the outbox.
func New(db *database.DB, hasher *password.Hasher, sessions *auth.Sessions, notify func(), opts Options, log *slog.Logger) *Service {
	l, shared := opts.Limits, opts.SharedLimits
	return &Service{
		db: db, hasher: hasher, sessions: sessions, notify: notify, opts: opts, log: log,
		signInIP:      shared.New("signin-ip", l.SignInPerIP, time.Minute),
		signInAccount: shared.New("signin-account", l.SignInPerAccount, 15*time.Minute),
		signUpIP:      shared.New("signup-ip", l.SignUpPerIP, time.Hour),
		resetIP:       shared.New("reset-ip", l.ResetPerIP, time.Hour),
		resetAccount:  shared.New("reset-account", l.ResetPerAccount, time.Hour),
		verifyUser:    shared.New("verify-user", l.VerifyMailsPerUser, time.Hour),
	}
}

// Session is a newly created session and its token.
type Session struct {
	User      *ent.User
	Token     string
	ExpiresAt time.Time
	// Membership is the membership made by accepting an invitation at sign-up.
	Membership *ent.Member
	// Session is the stored session.
	Session *ent.Session
}

// SignUpInput is the input of SignUp.
type SignUpInput struct {
	Email, Password, Name string
	// InvitationToken, when set, accepts that invitation in the same step if the
	// new account's email is the invited address.
	InvitationToken string
}

// Invitations is what sign-up needs of the invitation service.
type Invitations interface {
	// InvitedEmail returns the address a usable invitation token was sent to, or
	// the error that refuses the token.
	InvitedEmail(ctx context.Context, token string) (string, error)
	// AcceptToken accepts an invitation for the viewer of ctx.
	AcceptToken(ctx context.Context, token string) (*ent.Member, error)
}

// SetSessionsEnded connects the hook that closes the websockets of ended sessions.
func (s *Service) SetSessionsEnded(f func(ctx context.Context, ids []string)) {
	s.opts.SessionsEnded = f
}

// SetInvitations connects the invitation service (it is built after this one).
func (s *Service) SetInvitations(i Invitations) { s.invitations = i }

// SignUp creates an account, signs it in and mails an email verification link.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (*Session, error) {
	email, err := validate.Email("input.email", in.Email)
	if err != nil {
		return nil, err
	}
	name, err := validate.Name("input.name", in.Name, 100)
	if err != nil {
		return nil, err
	}
	if err := password.Validate("input.password", in.Password); err != nil {
		return nil, err
	}
	if err := allow(ctx, s.signUpIP, auth.RequestFromContext(ctx).IP); err != nil {
		return nil, err
	}
	invited := ""
	if in.InvitationToken != "" && s.invitations != nil {
		// A bad token refuses the whole sign-up, so the user can retry without it.
		if invited, err = s.invitations.InvitedEmail(ctx, in.InvitationToken); err != nil {
			return nil, err
		}
	}
	sctx := viewer.System(ctx)
	// Checked before hashing, so taken addresses cost no hashing; the unique index
	// still decides races.
	if taken, err := s.db.Client.User.Query().Where(user.Email(email)).Exist(sctx); err != nil {
		return nil, err
	} else if taken {
		return nil, errEmailTaken
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	var out *Session
	err = s.db.Tx(ctx, func(tx *ent.Tx) error {
		u, err := tx.User.Create().SetEmail(email).SetName(name).SetPasswordHash(hash).Save(sctx)
		if ent.IsConstraintError(err) {
			return errEmailTaken
		}
		if err != nil {
			return err
		}
		// Accepting the invitation verifies the address; no need to mail a link.
		if invited != email {
			if err := s.queueVerification(sctx, tx.Client(), u); err != nil {
				return err
			}
		}
		out, err = s.startSession(ctx, tx.Client(), u)
		return err
	})
	if err != nil {
		return nil, err
	}
	out.User = out.User.Unwrap()
	out.Session = out.Session.Unwrap()
	s.notify()
	signedIn(ctx, out)
	if invited == email {
		// The account exists now; accepting is a second transaction. Should it fail
		// (the invitation was canceled in between), the account stays and the
		// payload's membership is null.
		m, err := s.invitations.AcceptToken(ctx, in.InvitationToken) // as the new viewer

		if err != nil {
			s.log.WarnContext(ctx, "accepting invitation at sign-up", "err", err)
		} else {
			out.Membership = m
			out.User = viewer.FromContext(ctx).User // now verified
		}
	}
	return out, nil
}

var errEmailTaken = &apperr.Error{
	Code: apperr.Conflict, Reason: apperr.ReasonEmailTaken, Field: "input.email",
	Message: "an account with this email address already exists",
}

// SignIn checks an email and password and starts a session.
func (s *Service) SignIn(ctx context.Context, rawEmail, pw string) (*Session, error) {
	if err := allow(ctx, s.signInIP, auth.RequestFromContext(ctx).IP); err != nil {
		return nil, err
	}
	email, err := validate.Email("input.email", rawEmail)
	if err != nil {
		return nil, err
	}
	if err := allow(ctx, s.signInAccount, email); err != nil {
		return nil, err
	}
	sctx := viewer.System(ctx)
	u, err := s.db.Client.User.Query().Where(user.Email(email)).Only(sctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	stored := ""
	if u != nil {
		stored = u.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, pw, stored)
	if err != nil {
		return nil, err
	}
	if !ok || u == nil {
		return nil, apperr.New(apperr.Unauthenticated, apperr.ReasonInvalidCredentials, "the email address or password is wrong")
	}
	if s.hasher.NeedsRehash(stored) {
		// Parameters were raised since this hash was made: upgrade it now that the
		// clear password is at hand. Failure only postpones the upgrade.
		if h, err := s.hasher.Hash(ctx, pw); err == nil {
			if err := s.db.Client.User.UpdateOneID(u.ID).SetPasswordHash(h).Exec(sctx); err != nil {
				s.log.WarnContext(ctx, "upgrading password hash", "err", err)
			}
		}
	}
	out, err := s.startSession(ctx, s.db.Client, u)
	if err != nil {
		return nil, err
	}
	// The per-account limit is there to stop password guessing, so the owner's own
	// sign-ins do not count against it.
	s.signInAccount.Reset(ctx, email)
	signedIn(ctx, out)
	return out, nil
}

// SignOut ends the viewer's session, or all the viewer's sessions when everywhere is
// set, and clears the cookie. Without a session it only clears the cookie.
func (s *Service) SignOut(ctx context.Context, everywhere bool) (int, error) {
	defer auth.ClearSessionCookie(ctx)
	v := viewer.FromContext(ctx)
	if v == nil {
		return 0, nil
	}
	defer viewer.Replace(ctx, nil)
	var ended []string
	if everywhere {
		ids, err := s.sessions.RevokeUser(ctx, s.db.Client, v.User.ID, "")
		if err != nil {
			return 0, err
		}
		ended = ids
	} else {
		n, err := s.sessions.Revoke(ctx, s.db.Client, v.Session.ID)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			ended = []string{v.Session.ID}
		}
	}
	s.sessionsEnded(ctx, ended)
	return len(ended), nil
}

// RequestEmailVerification mails the viewer a new verification link.
func (s *Service) RequestEmailVerification(ctx context.Context) (*ent.User, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if v.User.EmailVerifiedAt != nil {
		return nil, apperr.New(apperr.Conflict, apperr.ReasonAlreadyVerified, "the email address is already verified")
	}
	if err := allow(ctx, s.verifyUser, v.User.ID); err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *ent.Tx) error {
		return s.queueVerification(viewer.System(ctx), tx.Client(), v.User)
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return v.User, nil
}

// VerifyEmail redeems a verification token and marks the address verified.
func (s *Service) VerifyEmail(ctx context.Context, tok string) (*ent.User, error) {
	var u *ent.User
	err := s.db.Tx(ctx, func(tx *ent.Tx) error {
		t, err := s.redeem(ctx, tx, tok, usertoken.PurposeVERIFY_EMAIL)
		if err != nil {
			return err
		}
		u, err = s.markVerified(ctx, tx, t.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u.Unwrap(), nil
}

// RequestPasswordReset mails a reset link if an account has this address. It
// answers the same whether or not one does, so it cannot be used to find accounts.
func (s *Service) RequestPasswordReset(ctx context.Context, rawEmail string) (string, error) {
	email, err := validate.Email("input.email", rawEmail)
	if err != nil {
		return "", err
	}
	if err := allow(ctx, s.resetIP, auth.RequestFromContext(ctx).IP); err != nil {
		return "", err
	}
	if err := allow(ctx, s.resetAccount, email); err != nil {
		return "", err
	}
	sctx := viewer.System(ctx)
	queued := false
	err = s.db.Tx(ctx, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.Email(email)).Only(sctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		tok, err := s.newToken(sctx, tx.Client(), u, usertoken.PurposeRESET_PASSWORD, s.opts.ResetTTL)
		if err != nil {
			return err
		}
		m, err := mail.ResetPassword(u.Email, mail.ResetPasswordData{
			Name: u.Name, Link: s.link("/reset-password", tok), ExpiresAt: s.sessions.Now().Add(s.opts.ResetTTL),
		})
		if err != nil {
			return err
		}
		queued = true
		return mail.Enqueue(sctx, tx.Client(), m)
	})
	if err != nil {
		return "", err
	}
	if queued {
		s.notify()
	}
	return email, nil
}

// ResetPassword redeems a reset token, sets the new password, ends every session of
// the account and starts a new one for the caller. The token proves control of the
// inbox, so the address also counts as verified.
func (s *Service) ResetPassword(ctx context.Context, tok, newPassword string) (*Session, error) {
	if err := password.Validate("input.newPassword", newPassword); err != nil {
		return nil, err
	}
	// The token is checked before the (slow, capped) hash, so that bad tokens cost
	// one indexed lookup, not a hashing slot; it is redeemed in the transaction.
	if _, err := s.usableToken(ctx, s.db.Client, tok, usertoken.PurposeRESET_PASSWORD); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	var (
		out   *Session
		ended []string
	)
	err = s.db.Tx(ctx, func(tx *ent.Tx) error {
		t, err := s.redeem(ctx, tx, tok, usertoken.PurposeRESET_PASSWORD)
		if err != nil {
			return err
		}
		sctx := viewer.System(ctx)
		if err := tx.User.UpdateOneID(t.UserID).SetPasswordHash(hash).Exec(sctx); err != nil {
			return err
		}
		u, err := s.markVerified(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		// Other reset links die with this one.
		if _, err := tx.UserToken.Update().
			Where(usertoken.UserID(t.UserID), usertoken.PurposeEQ(usertoken.PurposeRESET_PASSWORD), usertoken.UsedAtIsNil()).
			SetUsedAt(s.sessions.Now()).Save(sctx); err != nil {
			return err
		}
		if ended, err = s.sessions.RevokeUser(ctx, tx.Client(), t.UserID, ""); err != nil {
			return err
		}
		out, err = s.startSession(ctx, tx.Client(), u)
		return err
	})
	if err != nil {
		return nil, err
	}
	out.User = out.User.Unwrap()
	out.Session = out.Session.Unwrap()
	s.sessionsEnded(ctx, ended)
	signedIn(ctx, out)
	return out, nil
}

func (s *Service) sessionsEnded(ctx context.Context, ids []string) {
	if len(ids) > 0 && s.opts.SessionsEnded != nil {
		s.opts.SessionsEnded(ctx, ids)
	}
}

var errInvalidToken = apperr.Input("input.token", apperr.ReasonInvalidToken, "the link is invalid, expired or already used; request a new one")

// redeem marks a token used if it is valid, with a compare-and-set so that two
// concurrent redemptions cannot both succeed. Unknown, used, expired and superseded
// tokens are refused alike.
func (s *Service) redeem(ctx context.Context, tx *ent.Tx, tok string, purpose usertoken.Purpose) (*ent.UserToken, error) {
	t, err := s.usableToken(ctx, tx.Client(), tok, purpose)
	if err != nil {
		return nil, err
	}
	sctx := viewer.System(ctx)
	now := s.sessions.Now()
	n, err := tx.UserToken.Update().
		Where(usertoken.ID(t.ID), usertoken.UsedAtIsNil()).
		SetUsedAt(now).
		Save(sctx)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, errInvalidToken
	}
	return t, nil
}

// usableToken finds a token that is known, unused, unexpired and mailed to the
// user's current address; anything else is refused alike.
func (s *Service) usableToken(ctx context.Context, client *ent.Client, tok string, purpose usertoken.Purpose) (*ent.UserToken, error) {
	if !token.Plausible(tok) {
		return nil, errInvalidToken
	}
	t, err := client.UserToken.Query().
		Where(usertoken.TokenHash(token.Hash(tok)), usertoken.PurposeEQ(purpose)).
		WithUser().
		Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, errInvalidToken
	}
	if err != nil {
		return nil, err
	}
	// A token mailed to a former address proves nothing about the current one.
	if t.UsedAt != nil || !s.sessions.Now().Before(t.ExpiresAt) || t.Edges.User.Email != t.Email {
		return nil, errInvalidToken
	}
	return t, nil
}

func (s *Service) markVerified(ctx context.Context, tx *ent.Tx, userID string) (*ent.User, error) {
	sctx := viewer.System(ctx)
	u, err := tx.User.Get(sctx, userID)
	if err != nil {
		return nil, err
	}
	if u.EmailVerifiedAt != nil {
		return u, nil
	}
	return tx.User.UpdateOne(u).SetEmailVerifiedAt(s.sessions.Now()).Save(sctx)
}

func (s *Service) queueVerification(ctx context.Context, client *ent.Client, u *ent.User) error {
	tok, err := s.newToken(ctx, client, u, usertoken.PurposeVERIFY_EMAIL, s.opts.VerificationTTL)
	if err != nil {
		return err
	}
	m, err := mail.VerifyEmail(u.Email, mail.VerifyEmailData{
		Name: u.Name, Link: s.link("/verify-email", tok), ExpiresAt: s.sessions.Now().Add(s.opts.VerificationTTL),
	})
	if err != nil {
		return err
	}
	return mail.Enqueue(ctx, client, m)
}

func (s *Service) newToken(ctx context.Context, client *ent.Client, u *ent.User, purpose usertoken.Purpose, ttl time.Duration) (string, error) {
	tok, hash := token.New()
	now := s.sessions.Now()
	err := client.UserToken.Create().
		SetPurpose(purpose).
		SetTokenHash(hash).
		SetUserID(u.ID).
		SetEmail(u.Email).
		SetCreatedAt(now).
		SetExpiresAt(now.Add(ttl)).
		Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("creating %s token: %w", purpose, err)
	}
	return tok, nil
}

// link builds a front-end URL carrying a token.
func (s *Service) link(path, tok string) string {
	return s.opts.PublicURL + path + "?token=" + url.QueryEscape(tok)
}

// signedIn makes the new session the viewer of the rest of the request and sets
// the session cookie.
func signedIn(ctx context.Context, out *Session) {
	auth.SetSessionCookie(ctx, out.Token, out.ExpiresAt)
	viewer.Replace(ctx, &viewer.Viewer{User: out.User, Session: out.Session})
}

func (s *Service) startSession(ctx context.Context, client *ent.Client, u *ent.User) (*Session, error) {
	tok, sess, err := s.sessions.Create(ctx, client, u.ID)
	if err != nil {
		return nil, err
	}
	return &Session{User: u, Token: tok, ExpiresAt: sess.ExpiresAt, Session: sess}, nil
}

// DeleteExpiredTokens removes tokens that expired more than a day ago.
func (s *Service) DeleteExpiredTokens(ctx context.Context) (int, error) {
	return s.db.Client.UserToken.Delete().
		Where(usertoken.ExpiresAtLT(s.sessions.Now().Add(-24 * time.Hour))).
		Exec(viewer.System(ctx))
}

func allow(ctx context.Context, l *ratelimit.Limiter, key string) error {
	if ok, wait := l.Allow(ctx, key); !ok {
		return apperr.Limited(wait)
	}
	return nil
}
