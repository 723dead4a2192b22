package graph_test

// The HTTP surface and the security baseline (GUIDE §4, §5): every refused request is
// also shown to have run nothing (no account created, no SQL statement sent).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/testenv"
	"github.com/orgql/orgql/internal/viewer"
)

const httpSignUpMutation = `mutation($in: SignUpInput!) { signUp(input: $in) { token user { id } } }`

const httpSignInMutation = `mutation($in: SignInInput!) { signIn(input: $in) { token user { id } } }`

// httpSignUpVars are the variables of httpSignUpMutation for a fresh account.
func httpSignUpVars(email string) map[string]any {
	return map[string]any{"in": map[string]any{"email": email, "password": testenv.DefaultPassword, "name": "Mallory"}}
}

// httpGQLBody is a JSON GraphQL request body.
func httpGQLBody(t *testing.T, query string, vars map[string]any, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{"query": query}
	if vars != nil {
		m["variables"] = vars
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func httpNewRequest(t *testing.T, e *testenv.Env, method, path, contentType string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.Server.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// httpGet sends a GraphQL GET request with the given URL parameters.
func httpGet(t *testing.T, c *testenv.Client, e *testenv.Env, params url.Values) *testenv.Response {
	t.Helper()
	return c.Send(httpNewRequest(t, e, http.MethodGet, "/graphql?"+params.Encode(), "", nil))
}

// httpUserCount counts the accounts in the database, bypassing the read policies.
func httpUserCount(t *testing.T, e *testenv.Env) int {
	t.Helper()
	n, err := e.App.DB.Client.User.Query().Count(viewer.System(context.Background()))
	if err != nil {
		t.Fatalf("counting users: %v", err)
	}
	return n
}

func httpWantNoUsers(t *testing.T, e *testenv.Env) {
	t.Helper()
	if n := httpUserCount(t, e); n != 0 {
		t.Fatalf("the refused request created %d account(s)", n)
	}
}

func httpWantStatus(t *testing.T, res *testenv.Response, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("HTTP status %d, want %d: %s", res.Status, status, res.Raw)
	}
}

func httpWantNoSQL(t *testing.T, e *testenv.Env) {
	t.Helper()
	if n := e.SQL.Count(); n != 0 {
		t.Fatalf("the refused request sent %d SQL statement(s): %v", n, e.SQL.Log())
	}
}

// httpRawResponse is a reply read without GraphQL decoding.
type httpRawResponse struct {
	Status int
	Header http.Header
	Raw    []byte
}

// httpRawDo sends req with a plain client (for non-GraphQL endpoints).
func httpRawDo(t *testing.T, req *http.Request) httpRawResponse {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpRawResponse{Status: res.StatusCode, Header: res.Header, Raw: raw}
}

// httpHiddenLength hides the length of a body so the client sends it chunked.
type httpHiddenLength struct{ r io.Reader }

func (h httpHiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestBodyTooLarge(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		body := httpGQLBody(t, httpSignUpMutation, httpSignUpVars("big@example.com"),
			map[string]any{"extensions": map[string]any{"pad": strings.Repeat("x", 2<<20)}})
		c := e.Client()

		t.Run("content-length", func(t *testing.T) {
			req := httpNewRequest(t, e, http.MethodPost, "/graphql", "application/json", bytes.NewReader(body))
			res := c.Send(req)
			httpWantStatus(t, res, http.StatusRequestEntityTooLarge)
			res.Fails(t, "BAD_REQUEST", "BODY_TOO_LARGE")
			httpWantNoUsers(t, e)
		})
		t.Run("chunked", func(t *testing.T) {
			req := httpNewRequest(t, e, http.MethodPost, "/graphql", "application/json", httpHiddenLength{bytes.NewReader(body)})
			req.ContentLength = -1 // unknown: Transfer-Encoding: chunked
			res := c.Send(req)
			httpWantStatus(t, res, http.StatusRequestEntityTooLarge)
			res.Fails(t, "BAD_REQUEST", "BODY_TOO_LARGE")
			httpWantNoUsers(t, e)
		})
		t.Run("exactly the limit is accepted", func(t *testing.T) {
			max := int(config.Default().MaxBodyBytes)
			base := httpGQLBody(t, `{ __typename }`, nil, map[string]any{"extensions": map[string]any{"pad": ""}})
			body := httpGQLBody(t, `{ __typename }`, nil, map[string]any{"extensions": map[string]any{"pad": strings.Repeat("x", max-len(base))}})
			if len(body) != max {
				t.Fatalf("test bug: body has %d bytes, want %d", len(body), max)
			}
			req := httpNewRequest(t, e, http.MethodPost, "/graphql", "application/json", httpHiddenLength{bytes.NewReader(body)})
			req.ContentLength = -1
			c.Send(req).OK(t, nil)
		})
	})
}

func TestUnsupportedContentTypes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		jsonBody := httpGQLBody(t, httpSignUpMutation, httpSignUpVars("csrf@example.com"), nil)
		vars, _ := json.Marshal(httpSignUpVars("csrf@example.com"))
		form := url.Values{"query": {httpSignUpMutation}, "variables": {string(vars)}}.Encode()

		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		_ = mw.WriteField("operations", string(jsonBody))
		_ = mw.WriteField("map", "{}")
		_ = mw.Close()

		cases := []struct {
			name, contentType string
			body              []byte
		}{
			{"text/plain", "text/plain", jsonBody},
			{"text/plain with charset", "text/plain;charset=UTF-8", jsonBody},
			{"urlencoded form", "application/x-www-form-urlencoded", []byte(form)},
			{"application/graphql", "application/graphql", []byte(`mutation { signUp(input: {email: "csrf@example.com", password: "correct horse battery staple", name: "M"}) { token } }`)},
			{"no content type", "", jsonBody},
			{"malformed content type", "application/json;;;===", jsonBody},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := e.Client().Send(httpNewRequest(t, e, http.MethodPost, "/graphql", tc.contentType, bytes.NewReader(tc.body)))
				httpWantStatus(t, res, http.StatusUnsupportedMediaType)
				res.Fails(t, "BAD_REQUEST", "UNSUPPORTED_CONTENT_TYPE")
				httpWantNoUsers(t, e)
			})
		}
		t.Run("multipart form without a preflight header", func(t *testing.T) {
			res := e.Client().Send(httpNewRequest(t, e, http.MethodPost, "/graphql", mw.FormDataContentType(), bytes.NewReader(mp.Bytes())))
			httpWantStatus(t, res, http.StatusBadRequest)
			res.Fails(t, "BAD_REQUEST", "CSRF_HEADER_MISSING")
			httpWantNoUsers(t, e)
		})
		t.Run("application/json with charset is accepted", func(t *testing.T) {
			res := e.Client().Send(httpNewRequest(t, e, http.MethodPost, "/graphql", "application/json; charset=utf-8", bytes.NewReader(jsonBody)))
			res.OK(t, nil)
			if n := httpUserCount(t, e); n != 1 {
				t.Fatalf("%d accounts after a valid signUp, want 1", n)
			}
		})
	})
}

func TestMethodNotAllowed(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		body := httpGQLBody(t, httpSignUpMutation, httpSignUpVars("put@example.com"), nil)
		for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
			t.Run(method, func(t *testing.T) {
				res := e.Client().Send(httpNewRequest(t, e, method, "/graphql", "application/json", bytes.NewReader(body)))
				httpWantStatus(t, res, http.StatusMethodNotAllowed)
				res.Fails(t, "BAD_REQUEST", "METHOD_NOT_ALLOWED")
				allow := res.Header.Get("Allow")
				if !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
					t.Fatalf("Allow: %q, want GET and POST", allow)
				}
				httpWantNoUsers(t, e)
			})
		}
	})
}

func TestInvalidJSON(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		const marker = "s3cret-MARKER-0xdeadbeef"
		cases := map[string]string{
			"truncated":     `{"query": "mutation { signUp(input: {email: \"` + marker + `@example.com\"}) { token } }", "variables": {"x": "` + marker,
			"wrong type":    `{"query": ["` + marker + `"]}`,
			"not an object": `["` + marker + `"]`,
			"empty":         ``,
			"bad variables": `{"query": "{ viewer { id } }", "variables": "` + marker + `"}`,
		}
		for name, body := range cases {
			t.Run(name, func(t *testing.T) {
				res := e.Client().Send(httpNewRequest(t, e, http.MethodPost, "/graphql", "application/json", strings.NewReader(body)))
				httpWantStatus(t, res, http.StatusBadRequest)
				res.Fails(t, "BAD_REQUEST", "INVALID_JSON")
				if bytes.Contains(res.Raw, []byte(marker)) {
					t.Fatalf("the response echoes the request body: %s", res.Raw)
				}
				httpWantNoUsers(t, e)
			})
		}
	})
}

func TestGET(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		t.Run("query", func(t *testing.T) {
			res := httpGet(t, e.Client(), e, url.Values{"query": {`{viewer{id}}`}}).OK(t, nil)
			if v := res.Get(t, "viewer"); v != nil {
				t.Fatalf("anonymous viewer = %v, want null", v)
			}
			u := e.SignUp("Grace")
			res = httpGet(t, u.Client, e, url.Values{"query": {`query($x: Boolean!) { viewer { id @include(if: $x) } }`}, "variables": {`{"x": true}`}}).OK(t, nil)
			if got := res.Str(t, "viewer.id"); got != u.ID {
				t.Fatalf("viewer.id over GET = %q, want %q", got, u.ID)
			}
		})

		t.Run("signUp over GET", func(t *testing.T) {
			before := httpUserCount(t, e)
			q := `mutation { signUp(input: {email: "get@example.com", password: "correct horse battery staple", name: "G"}) { token } }`
			res := httpGet(t, e.Client(), e, url.Values{"query": {q}})
			res.Fails(t, "BAD_REQUEST", "MUTATION_OVER_GET")
			if n := httpUserCount(t, e); n != before {
				t.Fatalf("signUp over GET created an account (%d -> %d)", before, n)
			}
		})

		t.Run("mutation chosen by operationName", func(t *testing.T) {
			before := httpUserCount(t, e)
			doc := `query Q { viewer { id } } mutation M { signUp(input: {email: "get2@example.com", password: "correct horse battery staple", name: "G"}) { token } }`
			httpGet(t, e.Client(), e, url.Values{"query": {doc}, "operationName": {"M"}}).Fails(t, "BAD_REQUEST", "MUTATION_OVER_GET")
			if n := httpUserCount(t, e); n != before {
				t.Fatalf("signUp over GET created an account (%d -> %d)", before, n)
			}
			httpGet(t, e.Client(), e, url.Values{"query": {doc}, "operationName": {"Q"}}).OK(t, nil)
		})

		t.Run("signOut over GET does not end the session", func(t *testing.T) {
			u := e.SignUp("Linus")
			httpGet(t, u.Client, e, url.Values{"query": {`mutation { signOut(input: {everywhere: true}) { revokedSessions } }`}}).
				Fails(t, "BAD_REQUEST", "MUTATION_OVER_GET")
			res := u.Do(`{ viewer { id } }`, nil).OK(t, nil)
			if res.Str(t, "viewer.id") != u.ID {
				t.Fatalf("the session ended after a refused signOut over GET: %s", res.Raw)
			}
		})

		t.Run("malformed variables", func(t *testing.T) {
			res := httpGet(t, e.Client(), e, url.Values{"query": {`query($x: Boolean!) { viewer { id @include(if: $x) } }`}, "variables": {`{"x": tru`}})
			httpWantStatus(t, res, http.StatusBadRequest)
			res.Fails(t, "BAD_REQUEST", "")
		})
	})
}

func TestRepeatedSensitiveFields(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		victim := e.SignUp("Victim")

		t.Run("50 aliased signIn", func(t *testing.T) {
			var b strings.Builder
			b.WriteString("mutation {\n")
			for i := 0; i < 50; i++ {
				fmt.Fprintf(&b, "  try%d: signIn(input: {email: %q, password: \"guess-number-%d\"}) { token }\n", i, victim.Email, i)
			}
			b.WriteString("}")
			e.SQL.Reset()
			res := e.Client().Do(b.String(), nil)
			res.Fails(t, "BAD_REQUEST", "REPEATED_SENSITIVE_FIELD")
			httpWantNoSQL(t, e) // not one signIn looked up the account
		})

		cases := map[string]string{
			"two aliased signUp": `mutation {
				a: signUp(input: {email: "a1@example.com", password: "correct horse battery staple", name: "A"}) { token }
				b: signUp(input: {email: "a2@example.com", password: "correct horse battery staple", name: "B"}) { token }
			}`,
			"signUp in two fragments": `mutation { ...A ...B }
				fragment A on Mutation { a: signUp(input: {email: "a1@example.com", password: "correct horse battery staple", name: "A"}) { token } }
				fragment B on Mutation { b: signUp(input: {email: "a2@example.com", password: "correct horse battery staple", name: "B"}) { token } }`,
			"signUp in inline fragments": `mutation {
				... on Mutation { a: signUp(input: {email: "a1@example.com", password: "correct horse battery staple", name: "A"}) { token } }
				... { b: signUp(input: {email: "a2@example.com", password: "correct horse battery staple", name: "B"}) { token } }
			}`,
			"unaliased and aliased signUp": `mutation {
				signUp(input: {email: "a1@example.com", password: "correct horse battery staple", name: "A"}) { token }
				again: signUp(input: {email: "a2@example.com", password: "correct horse battery staple", name: "B"}) { token }
			}`,
		}
		for name, q := range cases {
			t.Run(name, func(t *testing.T) {
				before := httpUserCount(t, e)
				e.SQL.Reset()
				e.Client().Do(q, nil).Fails(t, "BAD_REQUEST", "REPEATED_SENSITIVE_FIELD")
				httpWantNoSQL(t, e)
				if n := httpUserCount(t, e); n != before {
					t.Fatalf("the refused request created %d account(s)", n-before)
				}
			})
		}

		t.Run("one signIn works", func(t *testing.T) {
			e.Client().Do(httpSignInMutation, map[string]any{"in": map[string]any{"email": victim.Email, "password": victim.Password}}).OK(t, nil)
		})
	})
}

// httpAliases returns n aliased viewer fields.
func httpAliases(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, " a%d: viewer { id }", i)
	}
	return b.String()
}

func TestAliasLimit(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		limit := config.Default().AliasLimit
		c := e.Client()
		c.Do(`{`+httpAliases(limit)+` }`, nil).OK(t, nil)
		c.Do(`{`+httpAliases(limit+1)+` }`, nil).Fails(t, "BAD_REQUEST", "TOO_MANY_ALIASES")
	})

	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		c.Do(`{ a1: viewer { id } a2: viewer { id } a3: viewer { id } }`, nil).OK(t, nil)
		cases := map[string]string{
			"plain":            `{` + httpAliases(4) + ` }`,
			"nested":           `{ viewer { i1: id i2: id i3: id i4: id } }`,
			"fragments":        `{ ...F ...G } fragment F on Query { a1: viewer { id } a2: viewer { id } } fragment G on Query { a3: viewer { id } a4: viewer { id } }`,
			"inline fragments": `{ ... on Query { a1: viewer { id } a2: viewer { id } } ... { a3: viewer { id } a4: viewer { id } } }`,
			"mixed":            `{ a1: viewer { id } ... on Query { a2: viewer { id } } ...F } fragment F on Query { a3: viewer { i: id } }`,
		}
		for name, q := range cases {
			t.Run(name, func(t *testing.T) {
				c.Do(q, nil).Fails(t, "BAD_REQUEST", "TOO_MANY_ALIASES")
			})
		}
	}, testenv.WithConfig(func(c *config.Config) { c.AliasLimit = 3 }))
}

// Introspection is exempt from the depth limit, not from the alias limit: aliases
// inside __schema multiply the (large) answer like anywhere else.
func TestAliasLimitInsideIntrospection(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		limit := config.Default().AliasLimit
		var b strings.Builder
		b.WriteString("{ __schema {")
		for i := 0; i <= limit; i++ {
			fmt.Fprintf(&b, " t%d: types { fields { type { name } } }", i)
		}
		b.WriteString(" } }")
		res := e.Client().Do(b.String(), nil)
		if len(res.Errors) == 0 {
			t.Fatalf("%d aliases inside __schema ran (HTTP %d, %d bytes): %.200s", limit+1, res.Status, len(res.Raw), res.Raw)
		}
		res.Fails(t, "BAD_REQUEST", "TOO_MANY_ALIASES")
	})
}

func TestComplexityLimit(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		c.Do(`{ viewer { id } }`, nil).OK(t, nil)
		res := c.Do(`{ viewer { id name email createdAt updatedAt emailVerified } }`, nil)
		if len(res.Errors) == 0 || res.Errors[0].Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("want COMPLEXITY_LIMIT_EXCEEDED, got %s", res.Raw)
		}
		res = c.Do(`mutation($in: SignUpInput!) { signUp(input: $in) { token expiresAt user { id name email createdAt } } }`, httpSignUpVars("complex@example.com"))
		if len(res.Errors) == 0 || res.Errors[0].Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("want COMPLEXITY_LIMIT_EXCEEDED, got %s", res.Raw)
		}
		httpWantNoUsers(t, e)
	}, testenv.WithConfig(func(c *config.Config) { c.ComplexityLimit = 4 }))
}

func TestDepthLimit(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		c.Do(`{ viewer { id } }`, nil).OK(t, nil)
		c.Do(`{ node(id: "usr_x") { ... on User { id } } }`, nil).OK(t, nil)
		cases := map[string]string{
			"field":           `mutation($in: SignUpInput!) { signUp(input: $in) { user { id } } }`,
			"fragment":        `mutation($in: SignUpInput!) { ...F } fragment F on Mutation { signUp(input: $in) { user { id } } }`,
			"inline fragment": `mutation($in: SignUpInput!) { ... on Mutation { signUp(input: $in) { ... { user { id } } } } }`,
			"nested fragment": `mutation($in: SignUpInput!) { signUp(input: $in) { ...P } } fragment P on SignUpPayload { user { ...U } } fragment U on User { id }`,
		}
		for name, q := range cases {
			t.Run(name, func(t *testing.T) {
				c.Do(q, httpSignUpVars("deep@example.com")).Fails(t, "BAD_REQUEST", "DEPTH_LIMIT_EXCEEDED")
				httpWantNoUsers(t, e)
			})
		}
	}, testenv.WithConfig(func(c *config.Config) { c.DepthLimit = 2 }))

	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		c.Do(`{ __typename }`, nil).OK(t, nil)
		c.Do(`{ viewer { id } }`, nil).Fails(t, "BAD_REQUEST", "DEPTH_LIMIT_EXCEEDED")
		// Introspection is exempt, however deep.
		c.Do(`{ __type(name: "User") { fields { type { ofType { ofType { ofType { name } } } } } } }`, nil).OK(t, nil)
	}, testenv.WithConfig(func(c *config.Config) { c.DepthLimit = 1 }))
}

// httpIntrospectionQuery is what GraphiQL sends (graphql-js getIntrospectionQuery with
// descriptions, specifiedByURL, isRepeatable, schema description and input value
// deprecation).
const httpIntrospectionQuery = `
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}`

func TestIntrospection(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		var short struct {
			Schema struct {
				Types []struct{ Name string }
			} `json:"__schema"`
		}
		c.Do(`{ __schema { types { name } } }`, nil).OK(t, &short)
		found := false
		for _, ty := range short.Schema.Types {
			found = found || ty.Name == "User"
		}
		if !found {
			t.Fatalf("__schema lists no User type: %v", short)
		}

		var full struct {
			Schema struct {
				QueryType    struct{ Name string }
				MutationType struct{ Name string }
				Types        []json.RawMessage
			} `json:"__schema"`
		}
		c.Do(httpIntrospectionQuery, nil).OK(t, &full)
		if full.Schema.QueryType.Name != "Query" || full.Schema.MutationType.Name != "Mutation" || len(full.Schema.Types) < 10 {
			t.Fatalf("full introspection: %+v", full.Schema)
		}

		// Suggestions help people exploring the API.
		err := c.Do(`{ viewr { id } }`, nil).Fails(t, "GRAPHQL_VALIDATION_FAILED", "")
		if !strings.Contains(err.Message, "Did you mean") {
			t.Fatalf("with introspection on, %q has no suggestion", err.Message)
		}
	})
}

func TestIntrospectionDisabled(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		for _, q := range []string{
			`{ __schema { types { name } } }`,
			`{ __type(name: "User") { name fields { name } } }`,
			httpIntrospectionQuery,
		} {
			res := c.Do(q, nil)
			if len(res.Errors) == 0 {
				t.Fatalf("introspection is off but %q succeeded: %s", q[:20], res.Raw)
			}
			if bytes.Contains(res.Raw, []byte(`"fields":[`)) || bytes.Contains(res.Raw, []byte(`"types":[`)) {
				t.Fatalf("introspection is off but the schema leaked: %s", res.Raw)
			}
			// A deliberate refusal with the catalog's reason, not a server failure
			// nor a complaint about the user's input.
			ge := res.Errors[0]
			switch ge.Code() {
			case "BAD_REQUEST", "FORBIDDEN", "GRAPHQL_VALIDATION_FAILED":
			default:
				t.Fatalf("introspection refused with code %q, want BAD_REQUEST (or FORBIDDEN): %s", ge.Code(), res.Raw)
			}
			if ge.Reason() != "INTROSPECTION_DISABLED" {
				t.Fatalf("introspection refused with reason %q, want INTROSPECTION_DISABLED: %s", ge.Reason(), res.Raw)
			}
		}
		if strings.Contains(e.Logs.String(), "internal error") {
			t.Errorf("a refused introspection query was logged as an internal error:\n%s", e.Logs.String())
		}

		// __typename is not introspection of the schema and stays available.
		c.Do(`{ __typename }`, nil).OK(t, nil)

		for _, q := range []string{
			`{ viewr { id } }`,
			`{ viewer { emial } }`,
			`mutation { signOut(input: {evrywhere: true}) { revokedSessions } }`,
			`mutation { signOut(input: {everywhere: true}) { revokedSession } }`,
			`mutation($in: SignInInpt!) { signIn(input: $in) { token } }`,
		} {
			err := c.Do(q, nil).Fails(t, "GRAPHQL_VALIDATION_FAILED", "")
			if strings.Contains(err.Message, "Did you mean") {
				t.Errorf("with introspection off, the error for %q suggests a name: %q", q, err.Message)
			}
		}
	}, testenv.WithConfig(func(c *config.Config) { c.Introspection = false }))
}

func TestParserTokenLimit(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		q := "{" + strings.Repeat(" __typename", 20000) + " }"
		res := e.Client().Do(q, nil)
		res.Fails(t, "GRAPHQL_PARSE_FAILED", "")
		if res.Data != nil && string(res.Data) != "null" {
			t.Fatalf("a document of 20,000 tokens ran: %.200s", res.Raw)
		}
		// An ordinary document is far below the limit.
		e.Client().Do("{"+strings.Repeat(" __typename", 1000)+" }", nil).OK(t, nil)
	})
}

// httpKnownCodes are the codes a client may see besides the catalog's.
var httpKnownCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "NOT_FOUND": true, "BAD_USER_INPUT": true,
	"CONFLICT": true, "RATE_LIMITED": true, "INTERNAL_SERVER_ERROR": true, "BAD_REQUEST": true,
	"GRAPHQL_PARSE_FAILED": true, "GRAPHQL_VALIDATION_FAILED": true, "COMPLEXITY_LIMIT_EXCEEDED": true,
}

func TestErrorCodes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		cases := []struct {
			name, query string
			vars        map[string]any
			code        string
		}{
			{"parse error", `{ viewer { id }`, nil, "GRAPHQL_PARSE_FAILED"},
			{"lexer error", `{ viewer { id } } "unterminated`, nil, "GRAPHQL_PARSE_FAILED"},
			{"empty document", ``, nil, ""},
			{"unknown field", `{ nope }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown argument", `{ viewer(id: 1) { id } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"wrong argument literal", `mutation { signOut(input: {everywhere: "yes"}) { revokedSessions } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"enum literal for a boolean", `mutation { signOut(input: {everywhere: TRUE}) { revokedSessions } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"missing required argument", `mutation { signIn { token } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"missing variable", httpSignInMutation, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"variable of the wrong type", httpSignInMutation, map[string]any{"in": "me@example.com"}, "GRAPHQL_VALIDATION_FAILED"},
			{"variable field of the wrong type", httpSignInMutation, map[string]any{"in": map[string]any{"email": map[string]any{"x": 1}, "password": "x"}}, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown variable field", httpSignInMutation, map[string]any{"in": map[string]any{"email": "a@example.com", "password": "x", "admin": true}}, "GRAPHQL_VALIDATION_FAILED"},
			{"variable declared with the wrong type", `mutation($in: String!) { signIn(input: $in) { token } }`, map[string]any{"in": "x"}, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown operation name", `query A { viewer { id } }`, nil, ""},
			{"no operation selected", `query A { viewer { id } } query B { viewer { id } }`, nil, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var res *testenv.Response
				if tc.name == "unknown operation name" {
					body := httpGQLBody(t, tc.query, nil, map[string]any{"operationName": "Nope"})
					res = c.Send(httpNewRequest(t, e, http.MethodPost, "/graphql", "application/json", bytes.NewReader(body)))
				} else {
					res = c.Do(tc.query, tc.vars)
				}
				if len(res.Errors) == 0 {
					t.Fatalf("no error: %s", res.Raw)
				}
				for _, err := range res.Errors {
					code := err.Code()
					if !httpKnownCodes[code] {
						t.Fatalf("error without a catalog code: %s", res.Raw)
					}
					if tc.code != "" && code != tc.code {
						t.Fatalf("code %s, want %s: %s", code, tc.code, res.Raw)
					}
					if code == "INTERNAL_SERVER_ERROR" {
						t.Fatalf("a bad request is reported as an internal error: %s", res.Raw)
					}
				}
				httpWantNoUsers(t, e)
			})
		}
	})
}

// httpSecretLeaks are driver and SQL texts that must never reach a client.
var httpSecretLeaks = regexp.MustCompile(`(?i)sql|select |database is closed|sqlite|mysql|driver|ent:`)

func TestInternalErrorHygiene(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		c := e.Client()
		if err := e.App.DB.SQL.Close(); err != nil {
			t.Fatal(err)
		}
		res := c.Do(httpSignInMutation, map[string]any{"in": map[string]any{"email": "ada@example.com", "password": "correct horse battery staple"}})
		ge := res.Fails(t, "INTERNAL_SERVER_ERROR", "")
		ref, _ := ge.Extensions["reference"].(string)
		if ref == "" {
			t.Fatalf("no extensions.reference: %s", res.Raw)
		}
		if !strings.Contains(ge.Message, "reference") || !strings.Contains(ge.Message, ref) {
			t.Fatalf("message %q does not give the reference %s", ge.Message, ref)
		}
		if m := httpSecretLeaks.Find(res.Raw); m != nil {
			t.Fatalf("the response leaks %q: %s", m, res.Raw)
		}
		logs := e.Logs.String()
		var line string
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, ref) {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("reference %s is not in the server log:\n%s", ref, logs)
		}
		if !strings.Contains(line, "database is closed") {
			t.Fatalf("the log line of reference %s does not hold the cause: %s", ref, line)
		}
		if rid := res.Header.Get("X-Request-ID"); !strings.Contains(line, rid) {
			t.Fatalf("the log line of reference %s lacks the request ID %s: %s", ref, rid, line)
		}
	})
}

// An authenticated request whose session lookup fails gets the same error shape as
// any internal error: JSON, a code, and a reference found in the log.
func TestInternalErrorInAuthentication(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Ada")
		if err := e.App.DB.SQL.Close(); err != nil {
			t.Fatal(err)
		}
		res := u.Do(`{ viewer { id } }`, nil)
		if res.Status < 500 {
			t.Fatalf("HTTP %d for a failed session lookup, want 5xx: %s", res.Status, res.Raw)
		}
		if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, "application/json") {
			t.Fatalf("Content-Type %q, want application/json: %s", ct, res.Raw)
		}
		ge := res.Fails(t, "INTERNAL_SERVER_ERROR", "")
		if m := httpSecretLeaks.Find(res.Raw); m != nil {
			t.Fatalf("the response leaks %q: %s", m, res.Raw)
		}
		ref, _ := ge.Extensions["reference"].(string)
		if ref == "" || !strings.Contains(ge.Message, ref) {
			t.Fatalf("no reference in the error: %s", res.Raw)
		}
		if !strings.Contains(e.Logs.String(), ref) {
			t.Fatalf("reference %s is not in the server log", ref)
		}
	})
}

var httpGeneratedRequestID = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestRequestID(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		send := func(t *testing.T, path, id string) string {
			t.Helper()
			req := httpNewRequest(t, e, http.MethodGet, path, "", nil)
			if id != "" {
				req.Header.Set("X-Request-ID", id)
			}
			return httpRawDo(t, req).Header.Get("X-Request-ID")
		}
		for _, path := range []string{"/graphql?query=%7Bviewer%7Bid%7D%7D", "/healthz", "/nowhere"} {
			t.Run(path, func(t *testing.T) {
				for _, sane := range []string{"abc-123", "req_01.JD3X9V", strings.Repeat("a", 64)} {
					if got := send(t, path, sane); got != sane {
						t.Errorf("X-Request-ID %q came back as %q", sane, got)
					}
				}
				seen := map[string]bool{}
				for _, insane := range []string{"", strings.Repeat("a", 65), strings.Repeat("b", 200), "has space", "a,b", "<script>", "ünïcode", "a\tb"} {
					got := send(t, path, insane)
					if got == insane || !httpGeneratedRequestID.MatchString(got) {
						t.Errorf("X-Request-ID %q: got %q, want a fresh ID", insane, got)
					}
					if seen[got] {
						t.Errorf("generated request ID %q twice", got)
					}
					seen[got] = true
				}
			})
		}
		// The ID is on the request's log lines.
		send(t, "/graphql?query=%7Bviewer%7Bid%7D%7D", "trace-me-42")
		if !strings.Contains(e.Logs.String(), "request_id=trace-me-42") {
			t.Fatalf("the access log lacks the request ID:\n%s", e.Logs.String())
		}
	})
}

func TestHealthAndReadiness(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		check := func(path string, status int, body map[string]string) {
			t.Helper()
			res := httpRawDo(t, httpNewRequest(t, e, http.MethodGet, path, "", nil))
			if res.Status != status {
				t.Fatalf("%s: HTTP %d, want %d: %s", path, res.Status, status, res.Raw)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("%s: Content-Type %q", path, ct)
			}
			if body != nil {
				var got map[string]string
				if err := json.Unmarshal(res.Raw, &got); err != nil || len(got) != len(body) || got["status"] != body["status"] {
					t.Fatalf("%s: body %s, want %v", path, res.Raw, body)
				}
			}
		}
		ok := map[string]string{"status": "ok"}
		check("/healthz", http.StatusOK, ok)
		check("/readyz", http.StatusOK, ok)

		if err := e.App.DB.SQL.Close(); err != nil {
			t.Fatal(err)
		}
		check("/readyz", http.StatusServiceUnavailable, nil)
		check("/healthz", http.StatusOK, ok) // liveness does not depend on the database
	})
}

func TestGraphiQL(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		res := e.Client().Send(httpNewRequest(t, e, http.MethodGet, "/", "", nil))
		httpWantStatus(t, res, http.StatusOK)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("Content-Type %q, want text/html", ct)
		}
		if !bytes.Contains(bytes.ToLower(res.Raw), []byte("graphiql")) {
			t.Fatalf("GET / does not serve GraphiQL: %.300s", res.Raw)
		}
		httpWantStatus(t, e.Client().Send(httpNewRequest(t, e, http.MethodGet, "/elsewhere", "", nil)), http.StatusNotFound)
	})
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		res := e.Client().Send(httpNewRequest(t, e, http.MethodGet, "/", "", nil))
		httpWantStatus(t, res, http.StatusNotFound)
		if bytes.Contains(bytes.ToLower(res.Raw), []byte("graphiql")) {
			t.Fatalf("GraphiQL is off but GET / serves it")
		}
		// The API itself still works.
		e.Client().Do(`{ viewer { id } }`, nil).OK(t, nil)
	}, testenv.WithConfig(func(c *config.Config) { c.GraphiQL = false }))
}

// TestGraphiQLSelfContained: the GraphiQL page loads every script and style from
// this server (no CDN) under a content security policy that allows nothing else,
// each with an integrity hash that matches what is served and
// equals the hash gqlgen pins for the same upstream build; the files are served
// compressed when asked, cacheable forever, and nothing else is served under their
// folder. With GraphiQL off, they are gone too.
func TestGraphiQLSelfContained(t *testing.T) {
	e := testenv.New(t, "sqlite")
	page := e.Client().Send(httpNewRequest(t, e, http.MethodGet, "/", "", nil))
	httpWantStatus(t, page, http.StatusOK)
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Find(page.Raw); m != nil {
		t.Fatalf("the page loads something from elsewhere: %s", m)
	}
	// Its content security policy lets only this origin's scripts run, and the
	// page's own inline script by its hash.
	csp := page.Header.Get("Content-Security-Policy")
	inline := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllSubmatch(page.Raw, -1)
	if len(inline) != 1 {
		t.Fatalf("want one inline script, found %d", len(inline))
	}
	sum := sha256.Sum256(inline[0][1])
	scriptSrc := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp)
	if scriptSrc == nil || scriptSrc[1] != "'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'" ||
		!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		strings.Contains(csp, "http") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	// The hashes of the upstream builds, as gqlgen's playground pins them.
	upstream := map[string]string{
		"sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=": "graphiql.min.js 4.1.2",
		"sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=": "graphiql.min.css 4.1.2",
		"sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY=": "react.production.min.js 18.2.0",
		"sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc=": "react-dom.production.min.js 18.2.0",
	}
	refs := regexp.MustCompile(`(?s)(?:src|href)="(/graphiql/[^"]+)"\s+integrity="(sha256-[^"]+)"`).FindAllSubmatch(page.Raw, -1)
	if len(refs) != len(upstream) {
		t.Fatalf("want %d same-origin assets with integrity hashes, found %d in %s", len(upstream), len(refs), page.Raw)
	}
	for _, ref := range refs {
		path, integrity := html.UnescapeString(string(ref[1])), html.UnescapeString(string(ref[2]))
		if upstream[integrity] == "" {
			t.Errorf("%s: integrity %s is not one of the upstream builds", path, integrity)
		}
		res := e.Client().Send(httpNewRequest(t, e, http.MethodGet, path, "", nil))
		httpWantStatus(t, res, http.StatusOK)
		sum := sha256.Sum256(res.Raw)
		if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
			t.Errorf("%s: served bytes hash to %s, the page says %s", path, got, integrity)
		}
		want := "text/javascript"
		if strings.HasSuffix(path, ".css") {
			want = "text/css"
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("%s: Content-Type %q, want %s", path, ct, want)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q, want immutable", path, cc)
		}
		req := httpNewRequest(t, e, http.MethodGet, path, "", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		gz := e.Client().Send(req)
		if gz.Header.Get("Content-Encoding") != "gzip" || len(gz.Raw) >= len(res.Raw) {
			t.Errorf("%s: asked for gzip, got Content-Encoding %q and %d bytes of %d",
				path, gz.Header.Get("Content-Encoding"), len(gz.Raw), len(res.Raw))
		}
	}
	for _, path := range []string{"/graphiql/", "/graphiql/nothing.js", "/graphiql/../go.mod", "/graphiql/assets/LICENSE-react"} {
		res := e.Client().Send(httpNewRequest(t, e, http.MethodGet, path, "", nil))
		httpWantStatus(t, res, http.StatusNotFound)
		if strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: a miss is cacheable forever", path)
		}
	}

	off := testenv.New(t, "sqlite", testenv.WithConfig(func(c *config.Config) { c.GraphiQL = false }))
	httpWantStatus(t, off.Client().Send(httpNewRequest(t, off, http.MethodGet, string(refs[0][1]), "", nil)), http.StatusNotFound)
}

func httpPreflight(t *testing.T, e *testenv.Env, origin string) *testenv.Response {
	t.Helper()
	req := httpNewRequest(t, e, http.MethodOptions, "/graphql", "", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type") // as browsers send it: sorted
	return e.Client().Send(req)
}

func TestCORS(t *testing.T) {
	const portal = "https://portal.example.com"
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		t.Run("preflight from the portal", func(t *testing.T) {
			res := httpPreflight(t, e, portal)
			if res.Status/100 != 2 {
				t.Fatalf("preflight status %d", res.Status)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != portal {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, portal)
			}
			if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Fatalf("Access-Control-Allow-Credentials %q, want true", got)
			}
			if got := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
				t.Fatalf("Access-Control-Allow-Headers %q", got)
			}
		})
		t.Run("preflight from elsewhere", func(t *testing.T) {
			for _, origin := range []string{"https://evil.example", "https://portal.example.com.evil.example", "http://portal.example.com", "null"} {
				res := httpPreflight(t, e, origin)
				if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Fatalf("origin %s: Access-Control-Allow-Origin %q, want none", origin, got)
				}
				if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "" {
					t.Fatalf("origin %s: Access-Control-Allow-Credentials %q, want none", origin, got)
				}
			}
		})
		t.Run("actual request", func(t *testing.T) {
			c := e.Client()
			c.Header.Set("Origin", portal)
			res := c.Do(`{ viewer { id } }`, nil).OK(t, nil)
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != portal {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, portal)
			}
			if got := res.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(strings.ToLower(got), "x-request-id") {
				t.Fatalf("Access-Control-Expose-Headers %q lacks X-Request-ID", got)
			}
			c = e.Client()
			c.Header.Set("Origin", "https://evil.example")
			res = c.Do(`{ viewer { id } }`, nil)
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Fatalf("evil origin: Access-Control-Allow-Origin %q", got)
			}
		})
	}, testenv.WithConfig(func(c *config.Config) { c.AllowedOrigins = []string{portal} }))
}

// With no allowed origins configured, only same-origin pages may use the API with
// credentials (config: "same-origin is always allowed").
func TestCORSDefaultAllowsNoOtherOrigin(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		res := httpPreflight(t, e, "https://evil.example")
		acao := res.Header.Get("Access-Control-Allow-Origin")
		acac := res.Header.Get("Access-Control-Allow-Credentials")
		if acao != "" {
			t.Fatalf("default configuration: a preflight from https://evil.example gets Access-Control-Allow-Origin %q (Allow-Credentials %q), want none", acao, acac)
		}
	})
}

func TestSessionCookieAttributes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		res := e.Client().Do(httpSignUpMutation, httpSignUpVars("cookie@example.com")).OK(t, nil)
		var sess *http.Cookie
		for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
			if ck.Name == "orgql_session" {
				sess = ck
			}
		}
		if sess == nil {
			t.Fatalf("signUp set no session cookie: %v", res.Header["Set-Cookie"])
		}
		if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure {
			t.Fatalf("session cookie over plain HTTP: HttpOnly=%v SameSite=%v Secure=%v, want HttpOnly, Lax, not Secure", sess.HttpOnly, sess.SameSite, sess.Secure)
		}
		if tok := res.Str(t, "signUp.token"); sess.Value != tok || len(tok) < 43 {
			t.Fatalf("session cookie %q and token %q: want the same token of at least 256 bits", sess.Value, tok)
		}
	})
}

// Requests refused before running (BAD_REQUEST, parse and validation failures) are
// answered with HTTP 422, not 200, as graph/errors.go intends ("BAD_REQUEST is about
// the request itself, like a parse error: HTTP 422 rather than 200 with data").
func TestRefusedOperationsAreNot200(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		in := map[string]any{"in": map[string]any{"email": "victim@example.com", "password": "wrong password"}}
		cases := []struct {
			name, query, reason string
			viaGET              bool
		}{
			{"mutation over GET", `mutation { signOut { revokedSessions } }`, "MUTATION_OVER_GET", true},
			{"repeated signIn", `mutation($in: SignInInput!) { a: signIn(input: $in) { token } b: signIn(input: $in) { token } }`, "REPEATED_SENSITIVE_FIELD", false},
			{"too many aliases", `{` + httpAliases(3) + ` }`, "TOO_MANY_ALIASES", false},
			{"too deep", `mutation($in: SignInInput!) { signIn(input: $in) { user { id } } }`, "DEPTH_LIMIT_EXCEEDED", false},
			{"parse error", `{ viewer {`, "", false},
			{"validation error", `{ nope }`, "", false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var res *testenv.Response
				if tc.viaGET {
					res = httpGet(t, e.Client(), e, url.Values{"query": {tc.query}})
				} else {
					res = e.Client().Do(tc.query, in)
				}
				if len(res.Errors) == 0 {
					t.Fatalf("not refused: %s", res.Raw)
				}
				if tc.reason != "" {
					res.Fails(t, "BAD_REQUEST", tc.reason)
				}
				httpWantStatus(t, res, http.StatusUnprocessableEntity)
			})
		}
	}, testenv.WithConfig(func(c *config.Config) { c.AliasLimit = 2; c.DepthLimit = 2 }))
}

// TestStatementsMetric: /metrics counts the SQL statements the service sends, the
// figure the load command divides by its requests.
func TestStatementsMetric(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Ada")
		read := func() float64 {
			t.Helper()
			res, err := http.Get(e.Server.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			m := regexp.MustCompile(`(?m)^orgql_sql_statements_total (\S+)$`).FindSubmatch(b)
			if m == nil {
				t.Fatalf("no orgql_sql_statements_total in /metrics:\n%s", b)
			}
			var v float64
			fmt.Sscan(string(m[1]), &v)
			return v
		}
		before := read()
		e.SQL.Reset()
		for range 3 {
			u.Do(`{ viewer { id } }`, nil).OK(t, nil)
		}
		if got, want := read()-before, float64(e.SQL.Count()); got != want || want == 0 {
			t.Fatalf("orgql_sql_statements_total rose by %v over three viewer queries, want %v", got, want)
		}
	}, testenv.WithConfig(func(c *config.Config) { c.Metrics = true }))
}
