// Package graphiql serves GraphiQL from the binary. Its scripts and styles are
// embedded, so GraphiQL works without internet access and the page makes no
// request to a third party (no CDN sees who explores the API, and a strict proxy
// does not break it).
//
// The files are, byte for byte, the builds gqlgen's GraphiQL page loads from a CDN
// (GraphiQL 4.1.2, React and ReactDOM 18.2.0, MIT-licensed; licenses alongside);
// their SHA-256 hashes, checked by the tests, equal the integrity hashes gqlgen
// pins. To update: `npm pack graphiql@X react@Y react-dom@Y`, copy graphiql.min.js,
// graphiql.min.css and the two umd/*.production.min.js under versioned names, and
// change the names below.
package graphiql

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/klauspost/compress/gzhttp"
)

//go:embed assets
var embedded embed.FS

// Prefix is the path under which Assets serves the files.
const Prefix = "/graphiql/"

// The embedded files; their names carry their versions, so they can be cached
// forever.
const (
	graphiqlJS  = "graphiql-4.1.2.min.js"
	graphiqlCSS = "graphiql-4.1.2.min.css"
	reactJS     = "react-18.2.0.production.min.js"
	reactDOMJS  = "react-dom-18.2.0.production.min.js"
)

var files = func() fs.FS {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		panic(err)
	}
	return sub
}()

// Page returns the GraphiQL page for the GraphQL endpoint (a path on this host;
// subscriptions go to the same path over a websocket). The page loads its scripts
// from Assets, with subresource integrity, and is served with a content security
// policy that allows nothing but this origin and the page's own inline script (by
// its hash): an injected script cannot run, and no other site can frame the page.
func Page(title, endpoint string) http.Handler {
	render := playground.Handler(title, endpoint,
		playground.WithGraphiqlVersion(Prefix+graphiqlJS, Prefix+graphiqlCSS, Integrity(graphiqlJS), Integrity(graphiqlCSS)),
		playground.WithGraphiqlReactVersion(Prefix+reactJS, Prefix+reactDOMJS, Integrity(reactJS), Integrity(reactDOMJS)),
	)
	// The page is the same for every request: render it once.
	rec := &recorder{header: http.Header{}}
	render(rec, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}})
	page := rec.Bytes()
	csp := "default-src 'none'; script-src 'self'" + inlineScriptHashes(page) +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'" +
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(page)
	})
}

// recorder keeps what a handler writes.
type recorder struct {
	bytes.Buffer
	header http.Header
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(int)     {}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// inlineScriptHashes returns " 'sha256-…'" for each inline script of page.
func inlineScriptHashes(page []byte) string {
	var out strings.Builder
	for _, m := range inlineScript.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[1])
		out.WriteString(" 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
	}
	return out.String()
}

// Assets serves the embedded files under Prefix, compressed when the client
// accepts it and cacheable for a year (a new version is a new name). Anything
// else under Prefix, the folder itself included, is not found.
func Assets() http.Handler {
	return gzhttp.GzipHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if st, err := fs.Stat(files, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, files, name)
	}))
}

// Integrity returns the subresource-integrity value of an embedded file
// ("sha256-…").
func Integrity(name string) string {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		panic("graphiql: no embedded file " + name)
	}
	sum := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
