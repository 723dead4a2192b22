package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"
)

// Client is a GraphQL client of the Env's server. It keeps cookies like a browser
// and sends Token as a Bearer header when set.
type Client struct {
	env    *Env
	http   *http.Client
	Token  string
	Header http.Header
}

// Client returns a new anonymous client with an empty cookie jar.
func (e *Env) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{env: e, http: &http.Client{Jar: jar}, Header: http.Header{}}
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	Raw    []byte
}

// Error is one entry of errors[].
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Reason returns extensions.reason.
func (e Error) Reason() string { s, _ := e.Extensions["reason"].(string); return s }

// Field returns extensions.field.
func (e Error) Field() string { s, _ := e.Extensions["field"].(string); return s }

// Do posts a GraphQL operation as JSON.
func (c *Client) Do(query string, vars map[string]any) *Response {
	c.env.T.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		c.env.T.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.env.Server.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		c.env.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Send(req)
}

// Send sends a prepared request with the client's credentials and decodes the reply.
func (c *Client) Send(req *http.Request) *Response {
	c.env.T.Helper()
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	r, err := send(c.http, req)
	if err != nil {
		c.env.T.Fatal(err)
	}
	return r
}

// SendGraphQL sends a prepared request and decodes its reply, which must be JSON.
// It returns its failures rather than reporting them on a testing.T, so that
// goroutines racing requests can use it (only the test's goroutine may stop a test).
func SendGraphQL(client *http.Client, req *http.Request) (*Response, error) {
	r, err := send(client, req)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(r.Header.Get("Content-Type"), "json") {
		return nil, fmt.Errorf("HTTP %d, not JSON: %q", r.Status, r.Raw)
	}
	return r, nil
}

// Post sends one GraphQL request body to url with a Bearer token (none when
// empty), from any goroutine (see SendGraphQL).
func Post(client *http.Client, url, token string, body []byte) (*Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return SendGraphQL(client, req)
}

// send sends a request and decodes a JSON reply.
func send(client *http.Client, req *http.Request) (*Response, error) {
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, r); err != nil {
			return nil, fmt.Errorf("HTTP %d, decoding %q: %w", res.StatusCode, raw, err)
		}
	}
	return r, nil
}

// OK fails the test if the response has errors, and decodes data into v (if not nil).
func (r *Response) OK(t testing.TB, v any) *Response {
	t.Helper()
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("want success, got HTTP %d: %s", r.Status, r.Raw)
	}
	if v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("decoding data %s: %v", r.Data, err)
		}
	}
	return r
}

// Fails fails the test unless the response's first error has the given code and,
// if not empty, reason. It returns that error.
func (r *Response) Fails(t testing.TB, code, reason string) Error {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("want error %s/%s, got success: %s", code, reason, r.Raw)
	}
	e := r.Errors[0]
	if e.Code() != code || (reason != "" && e.Reason() != reason) {
		t.Fatalf("want error %s/%s, got %s/%s: %s", code, reason, e.Code(), e.Reason(), r.Raw)
	}
	return e
}

// Get decodes the JSON value at a dotted path of data, e.g. "signIn.user.email".
func (r *Response) Get(t testing.TB, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Data, &v); err != nil {
		t.Fatalf("decoding data %s: %v", r.Data, err)
	}
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %q in %s", path, r.Data)
		}
		v = m[key]
	}
	return v
}

// Str is Get for strings.
func (r *Response) Str(t testing.TB, path string) string {
	t.Helper()
	s, ok := r.Get(t, path).(string)
	if !ok {
		t.Fatalf("%s is not a string in %s", path, r.Data)
	}
	return s
}

// User is a signed-up test user with a signed-in client.
type User struct {
	*Client
	ID, Email, Name, Password string
}

// DefaultPassword is the password of users made by SignUp.
const DefaultPassword = "correct horse battery staple"

// userSeq makes test email addresses unique within the process.
var userSeq atomic.Int64

// SignUp creates an account through the API and returns it with a client that uses
// its Bearer token. name also makes the email: "Ada" -> ada-N@example.com.
func (e *Env) SignUp(name string) *User {
	e.T.Helper()
	n := userSeq.Add(1)
	email := fmt.Sprintf("%s-%d@example.com", strings.ToLower(strings.ReplaceAll(name, " ", ".")), n)
	c := e.Client()
	res := c.Do(`mutation($in: SignUpInput!) { signUp(input: $in) { token user { id } } }`,
		map[string]any{"in": map[string]any{"email": email, "password": DefaultPassword, "name": name}}).OK(e.T, nil)
	c.Token = res.Str(e.T, "signUp.token")
	return &User{Client: c, ID: res.Str(e.T, "signUp.user.id"), Email: email, Name: name, Password: DefaultPassword}
}
